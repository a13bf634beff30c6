//! `stadtbote admin …` and `stadtbote org …`.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::{Subcommand, ValueEnum};
use stadtbote_cli::app_links;
use stadtbote_cli::clock::SystemClock;
use stadtbote_cli::consult::parse_slots;
use stadtbote_cli::invalid_input::InvalidReason as R;
use stadtbote_cli::org::{
    DEFAULT_CONSULT_DEPARTMENT, DEFAULT_INVITE_HOURS, set_category, validate_category,
};
use stadtbote_cli::output::{format_utc, safe};
use stadtbote_cli::passphrase::read_passphrase;
use stadtbote_cli::poster::{self, Format, Poster, PosterChannel};
use stadtbote_cli::qr::{self, org_qr_content};
use stadtbote_cli::{Client, ClientError, retention_text, thread_output};
use stadtbote_i18n::{Arg, tr};
use stadtbote_protocol::auth::fingerprint_of;
use stadtbote_protocol::frame::RetentionPeriod;
use stadtbote_protocol::org::{OrgProfile, Role};
use stadtbote_protocol::org_rotation::RotationReason;
use stadtbote_protocol::totp::{Secret, otpauth_uri};
use stadtbote_protocol::{AccountId, DeviceId};

use super::open_connected;

/// `stadtbote admin …`
#[derive(Subcommand)]
pub enum AdminCommand {
    /// Become a server admin with the code in DATA_DIR/admin-claim.code;
    /// prints the TOTP secret (as an otpauth:// URI) for your authenticator
    /// app. Every later admin command needs --otp CODE.
    Claim {
        /// The code.
        code: String,
    },
    /// Show or change the retention periods in force.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Read the audit log of admin and org-admin actions.
    Audit {
        /// One JSON object per entry.
        #[arg(long)]
        json: bool,
        /// Recompute the hash chain here and compare with the head pinned
        /// by the last verification; fails naming the first bad entry.
        #[arg(long)]
        verify: bool,
        /// With --verify: when the log was pruned past the head pinned by
        /// the last verification, accept that the removed entries cannot be
        /// checked and pin the server's log as on first use.
        #[arg(long, requires = "verify")]
        accept_gap: bool,
        /// Show only entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// Create or list orgs.
    Org {
        #[command(subcommand)]
        command: AdminOrgCommand,
    },
    /// Server-wide aggregate counts (no ids; orgs by handle).
    Stats {
        /// The counts as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Block every device of an account: it can no longer log in or make
    /// requests.
    Block {
        /// The account id.
        account: String,
    },
    /// Download an online, consistent backup of the whole server to FILE
    /// (mode 0600), encrypted to the server's backup recipients and every
    /// --recipient; refused when there is none, unless --insecure-plaintext.
    Backup {
        /// Where to write the backup.
        file: PathBuf,
        /// Extra age recipient (age1…) to encrypt to; repeatable.
        #[arg(long = "recipient", value_name = "AGE_RECIPIENT")]
        recipients: Vec<String>,
        /// Write an unencrypted backup when no recipient is configured or
        /// given. It holds the pepper, every account's shredding key and
        /// the admins' TOTP secrets: keep it at least as safe as the server.
        #[arg(long)]
        insecure_plaintext: bool,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Lift a block.
    Unblock {
        /// The account id.
        account: String,
    },
    /// Run several admin commands within one login (one --otp code): one
    /// command per line of standard input, written as after `stadtbote
    /// admin` (e.g. `org list`); blank lines and `#` comments are skipped.
    /// Stops at the first failure, naming its line, with exit code 1.
    /// Example: stadtbote admin --otp CODE batch < commands.txt
    Batch,
    /// An interactive admin prompt: run admin commands one after another
    /// within one login (one --otp code); `exit` or Ctrl-D leaves. The
    /// server ends the session after 5 minutes without a command.
    Shell,
}

/// `stadtbote admin org …`
#[derive(Subcommand)]
pub enum AdminOrgCommand {
    /// Create an org and print a one-time code for its admin.
    Create {
        /// The org's name, e.g. "Stadt Goslar".
        name: String,
        /// Its handle: 2-32 of a-z, 0-9 and -.
        #[arg(long)]
        handle: String,
    },
    /// List the server's orgs.
    List {
        /// One JSON object per org.
        #[arg(long)]
        json: bool,
    },
    /// Suspend an org: its directory entry, staff enrolment, org-admin
    /// actions and channel posts are refused until it is resumed.
    Suspend {
        /// The org's handle.
        handle: String,
    },
    /// Lift a suspension.
    Resume {
        /// The org's handle.
        handle: String,
    },
    /// Turn off an org's second factor after its admin lost the
    /// authenticator; the org admin then runs `stadtbote org 2fa enable`
    /// again to set up a new secret.
    #[command(name = "reset-2fa")]
    ResetTwoFactor {
        /// The org's handle.
        handle: String,
    },
}

/// `stadtbote admin retention …`
#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Every retention period in force.
    Show {
        /// One JSON object per period.
        #[arg(long)]
        json: bool,
    },
    /// Change one period, e.g. `envelopes 7d`.
    Set {
        /// envelopes, attachments, uploads, link-codes, org-claim-codes,
        /// channel-posts-max or audit.
        kind: String,
        /// A duration such as 30d, 12h, 90m or 3600s.
        duration: String,
    },
}

/// `stadtbote org 2fa …`
#[derive(Subcommand)]
pub enum TwoFactorCommand {
    /// Require a TOTP code for this org's admin actions; prints the secret
    /// (as an otpauth:// URI) for your authenticator app.
    Enable,
}

/// `stadtbote org …`
#[derive(Subcommand)]
pub enum OrgCommand {
    /// Become the org's admin with the code from `admin org create`; creates
    /// the org key on this device.
    Claim {
        /// The org-admin code.
        code: String,
    },
    /// Write the org key, encrypted with a passphrase, to FILE.
    ExportKey {
        /// Where.
        file: PathBuf,
    },
    /// Read an org key written by `org export-key`.
    ImportKey {
        /// The file.
        file: PathBuf,
    },
    /// Replace the org key with a new one, signed by the current key
    /// (handover, e.g. after an election); citizens' clients follow it
    /// without a warning. Staff certificates are re-issued under the new key.
    RotateKey {
        /// The current key may be in other hands (a stolen laptop): revoke
        /// it, so that clients refuse anything it signs later.
        #[arg(long)]
        compromised: bool,
    },
    /// Report categories and the departments they go to.
    Category {
        #[command(subcommand)]
        command: CategoryCommand,
    },
    /// Consultation hours.
    Hours {
        #[command(subcommand)]
        command: HoursCommand,
    },
    /// Print the org key's fingerprint and write its QR code (PNG and SVG).
    Fingerprint {
        /// Directory for the QR code files (default: HOME/qr, under --home).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Write a printable A4 poster for the notice board (PDF or SVG).
    ///
    /// The file name's extension picks the format. On the poster: the
    /// town's name, the announcement channel's invite QR code, the org key's
    /// fingerprint as text and QR code, and two lines of instructions in
    /// German. Run it on a device that knows the channel's invite link, i.e.
    /// the one that ran `channel create` (typically the org admin's); name
    /// and key come from the org's verified public profile on the server.
    Poster {
        /// The file to write: FILE.pdf or FILE.svg.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The channel whose invite goes on the poster (id or unambiguous
        /// prefix, see `channel list`; default: the first channel this
        /// device created for the org).
        #[arg(long, value_name = "CHANNEL-ID", conflicts_with = "no_channel")]
        channel: Option<String>,
        /// A poster with the fingerprint only, without a channel.
        #[arg(long)]
        no_channel: bool,
    },
    /// Create a one-time invitation for a staff device.
    InviteStaff {
        /// The department, e.g. bauhof.
        #[arg(long)]
        department: String,
        /// The role.
        #[arg(long, value_parser = ["clerk", "publisher", "admin"])]
        role: String,
        /// Hours the code can be redeemed.
        #[arg(long, default_value_t = DEFAULT_INVITE_HOURS)]
        expires_hours: u64,
    },
    /// List the org's certified staff devices.
    Staff {
        /// One JSON object per device.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending staff enrolment with the org key (the org admin's
    /// device also approves pending enrolments automatically on every
    /// command that connects, except a second binding of an invitation
    /// already used; see `org staff`).
    Approve {
        /// The device id (as shown by `org staff`).
        device: String,
    },
    /// Revoke a staff device's certificate.
    Revoke {
        /// The device id.
        device: String,
    },
    /// Show the org's published profile.
    Show {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The second factor for the org's admin actions.
    #[command(name = "2fa")]
    TwoFactor {
        #[command(subcommand)]
        command: TwoFactorCommand,
    },
    /// Show any org's verified public profile: name, key fingerprint and
    /// how far this device trusts it, categories and their departments,
    /// consultation hours, live state and channels. Needs no admin rights
    /// and works before `stadtbote init` (then nothing is stored).
    #[command(after_long_help = ORG_INFO_JSON_HELP)]
    Info {
        /// The org's handle, e.g. goslar.
        handle: String,
        /// One JSON object (fields below).
        #[arg(long)]
        json: bool,
    },
    /// The town's Impressum and privacy notice (GDPR Art. 13) in its
    /// signed profile.
    Legal {
        #[command(subcommand)]
        command: super::org_legal::LegalCommand,
    },
    /// The departments' reply templates ("Textbausteine") in the signed
    /// profile.
    Template {
        #[command(subcommand)]
        command: super::org_legal::TemplateCommand,
    },
    /// Make this device, which holds the org key, a certified staff device
    /// of its org (role admin, which includes publisher and clerk), so that
    /// it can create channels and discussion groups and answer
    /// consultations. `org claim` does this already; use it for an org
    /// claimed with an older version, or for another department.
    EnrollSelf {
        /// The department (default: the one consultations go to).
        #[arg(long)]
        department: Option<String>,
    },
}

/// The `org info --json` fields, shown by `stadtbote org info --help`.
pub(crate) const ORG_INFO_JSON_HELP: &str = "\
JSON fields (stable; times in Unix milliseconds, UTC):
  handle, org, name         the org's handle, id and name
  fingerprint               the org key's fingerprint (compare with the town's poster)
  verification              \"verified\" (the fingerprint was compared with `stadtbote verify`, or
                            this device holds the org key), \"pinned\" (pinned on first contact),
                            \"first_seen\" (seen for the first time now) or \"rotated\" (changed
                            now by a rotation the previously pinned key signed)
  pinned                    whether this device keeps the key pinned (false without an account)
  fingerprint_verified      whether the pinned key was compared with the poster
  previous_fingerprint      the key pinned before, when verification is \"rotated\", else null
  key_rotations             signed key rotations the org made
  offline                   true when the server could not be reached (the cached profile)
  profile_version, updated_at
  categories                [{name, department}]
  departments               every department the profile names
  consult_department        the department consultations go to
  timezone                  the time zone of the office hours
  office_hours              [{department, slots: [\"Tue 17:00-18:00\", ...]}]
  auto_reply                the org's message outside live sessions, or null
  live, live_since          whether a consultation session is live, since when
  channels                  ids of channels the profile lists (hex)
  legal                     the Impressum and privacy notice, or null: {impressum, controller, dpo,
                            purposes, retention, recipients, rights} (\"\" where not given)
  reply_templates           [{department, name, text}]";

/// `stadtbote org category …`
#[derive(Subcommand)]
pub enum CategoryCommand {
    /// Add a category (or move it to another department).
    Add {
        /// Its name as citizens see it, e.g. "Straßenschaden".
        name: String,
        /// The department its reports go to.
        #[arg(long)]
        department: String,
    },
    /// Remove a category.
    Remove {
        /// Its name.
        name: String,
    },
}

/// `on` or `off`.
#[derive(Clone, Copy, ValueEnum)]
pub enum OnOff {
    /// Start a live session.
    On,
    /// End it.
    Off,
}

/// `stadtbote org hours …`
#[derive(Subcommand)]
pub enum HoursCommand {
    /// Set the weekly consultation slots, e.g. "Tue 17:00-18:00".
    Set {
        /// One or more slots.
        #[arg(required = true, value_name = "SLOT")]
        slots: Vec<String>,
        /// Shown to citizens who ask outside a live session.
        #[arg(long, value_name = "TEXT")]
        auto_reply: Option<String>,
        /// The department that answers consultations (default: the one
        /// they go to now, at first the default department
        /// buergermeister, which the org admin's device is staff of).
        #[arg(long, value_name = "DEPT")]
        department: Option<String>,
    },
    /// Start (on) or end (off) a live consultation session.
    Live {
        /// on or off.
        #[arg(value_enum)]
        state: OnOff,
    },
}

/// Runs `stadtbote admin …`.
pub async fn admin(home: &PathBuf, server: &str, command: AdminCommand) -> Result<()> {
    let mut client = open_connected(home, server).await?;
    let result = match command {
        AdminCommand::Batch => super::admin_session::batch(&mut client, home).await,
        AdminCommand::Shell => super::admin_session::shell(&mut client, home).await,
        command => admin_inner(&mut client, home, command).await,
    };
    client.disconnect().await;
    result
}

/// Runs one admin command on a connected (and, with `--otp`, elevated)
/// client.
pub(crate) async fn admin_inner(
    client: &mut Client,
    home: &Path,
    command: AdminCommand,
) -> Result<()> {
    match command {
        AdminCommand::Batch | AdminCommand::Shell => {
            bail!("{}", tr!("admin-session-nested"))
        }
        AdminCommand::Claim { code } => {
            let secret = Secret::generate();
            client.admin_claim(&code, &secret).await?;
            println!("{}", tr!("admin-claimed"));
            print_secret(&secret, "server-admin");
            println!("{}", tr!("admin-needs-otp"));
            println!("{}", tr!("admin-create-org-hint"));
        }
        AdminCommand::Retention { command: RetentionCommand::Show { json } } => {
            print_periods(&client.admin_retention(None).await?, json)?;
        }
        AdminCommand::Retention { command: RetentionCommand::Set { kind, duration } } => {
            let secs = parse_duration(&duration)?;
            let periods = client.admin_retention(Some((kind.clone(), secs))).await?;
            println!("{}", tr!("admin-retention-set", kind = kind, secs = secs));
            print_periods(&periods, false)?;
        }
        AdminCommand::Audit { json, verify, accept_gap, after } => {
            let args = super::audit::AuditArgs { json, verify, accept_gap, after };
            super::audit::audit(client, home, args).await?;
        }
        AdminCommand::Org { command: AdminOrgCommand::Suspend { handle } } => {
            client.admin_set_suspended(&handle, true).await?;
            println!("{}", tr!("admin-org-suspended", handle = handle));
        }
        AdminCommand::Org { command: AdminOrgCommand::Resume { handle } } => {
            client.admin_set_suspended(&handle, false).await?;
            println!("{}", tr!("admin-org-resumed", handle = handle));
        }
        AdminCommand::Org { command: AdminOrgCommand::ResetTwoFactor { handle } } => {
            if client.admin_reset_org_second_factor(&handle).await? {
                println!("{}", tr!("admin-org-2fa-reset", handle = handle));
            } else {
                println!("{}", tr!("admin-org-2fa-none", handle = handle));
            }
            println!("{}", tr!("admin-org-2fa-next"));
        }
        AdminCommand::Org { command: AdminOrgCommand::Create { name, handle } } => {
            let created = client.create_org(&name, &handle, None).await?;
            println!(
                "{}",
                tr!(
                    "admin-org-created",
                    org = safe(&name),
                    handle = safe(&created.handle),
                    id = created.org
                )
            );
            println!("{}", tr!("admin-org-created-give"));
            println!("{}", tr!("admin-code-expires", time = format_utc(created.expires_at)));
            println!("{}", created.code);
        }
        AdminCommand::Stats { json } => {
            let stats = client.admin_stats(None).await?;
            if json {
                println!("{}", stadtbote_cli::output::safe_json(&serde_json::to_string(&stats)?));
            } else {
                let lang = stadtbote_i18n::language();
                println!("{}", stadtbote_cli::admin_output::stats_text(&stats, lang));
            }
        }
        AdminCommand::Backup { file, recipients, insecure_plaintext, json } => {
            let summary = client.admin_backup(&file, recipients, insecure_plaintext, None).await?;
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                let now = jiff::Timestamp::now().as_millisecond();
                let text = stadtbote_cli::admin_output::backup_text(
                    &summary,
                    u64::try_from(now).unwrap_or_default(),
                    &jiff::tz::TimeZone::system(),
                    stadtbote_i18n::language(),
                );
                println!("{text}");
            }
        }
        AdminCommand::Block { account } => set_blocked(client, &account, true).await?,
        AdminCommand::Unblock { account } => {
            set_blocked(client, &account, false).await?;
        }
        AdminCommand::Org { command: AdminOrgCommand::List { json } } => {
            let orgs = client.list_orgs(None).await?;
            if orgs.is_empty() && !json {
                println!("{}", tr!("admin-no-orgs"));
            }
            for org in &orgs {
                if json {
                    println!(
                        "{}",
                        stadtbote_cli::output::safe_json(
                            &thread_output::org_summary_json(org).to_string()
                        )
                    );
                } else {
                    println!("{}", thread_output::org_summary_text(org));
                }
            }
        }
    }
    Ok(())
}

/// `admin block` / `admin unblock`.
async fn set_blocked(client: &mut Client, account: &str, blocked: bool) -> Result<()> {
    let id = AccountId::parse(account)
        .map_err(|_| ClientError::InvalidAccountId { text: account.to_string() })?;
    let devices = client.admin_set_blocked(id, blocked, None).await?;
    let count = stadtbote_i18n::Count(u64::from(devices));
    if blocked {
        println!("{}", tr!("admin-blocked", account = id, devices = count));
    } else {
        println!("{}", tr!("admin-unblocked", account = id, devices = count));
    }
    Ok(())
}

/// Runs `stadtbote org …`.
pub async fn org(
    home: &PathBuf,
    server: &str,
    handle: Option<&str>,
    command: OrgCommand,
) -> Result<()> {
    match command {
        OrgCommand::Claim { code } => {
            let mut client = open_connected(home, server).await?;
            let result = client.claim_org(&code).await;
            let admin = match result {
                Ok(admin) => admin,
                Err(error) => {
                    client.disconnect().await;
                    return Err(error.into());
                }
            };
            // Certified like every staff device, in the default department.
            let staff = client.enrol_admin_device(&admin.handle, DEFAULT_CONSULT_DEPARTMENT).await;
            client.disconnect().await;
            println!(
                "{}",
                tr!("org-claimed", org = safe(&admin.name), handle = safe(&admin.handle))
            );
            let key_file = home.join("org").join(format!("{}.key", admin.handle));
            println!("{}", tr!("org-key-created", file = key_file.display()));
            println!("{}", tr!("org-keep-copy"));
            match &staff {
                Ok(enrolment) => {
                    println!(
                        "{}",
                        tr!(
                            "org-claim-staff",
                            handle = safe(&admin.handle),
                            department = safe(&enrolment.department)
                        )
                    );
                    println!("{}", tr!("org-claim-can-publish"));
                    println!("{}", tr!("org-claim-hours-hint"));
                }
                Err(error) => eprintln!(
                    "{}",
                    tr!(
                        "org-claim-staff-failed",
                        handle = safe(&admin.handle),
                        reason = safe(&stadtbote_cli::error_text::localized(error))
                    )
                ),
            }
            println!("{}", tr!("org-fingerprint-intro"));
            println!("{}", fingerprint_of(&admin.key.0));
            if staff.is_err() {
                bail!("{}", tr!("org-claim-not-staff-yet", handle = safe(&admin.handle)));
            }
            Ok(())
        }
        OrgCommand::EnrollSelf { department } => {
            if let Some(department) = &department {
                stadtbote_protocol::org::validate_department(department).map_err(|e| {
                    ClientError::Invalid { what: "department", reason: R::Format(e) }
                })?;
            }
            let mut client = open_connected(home, server).await?;
            let result = enroll_self(&mut client, handle, department).await;
            client.disconnect().await;
            let (handle, enrolment, already) = result?;
            let (handle, department) = (safe(&handle), safe(&enrolment.department));
            if already {
                println!(
                    "{}",
                    tr!("org-enroll-self-already", handle = handle, department = department)
                );
            } else {
                println!(
                    "{}",
                    tr!("org-enroll-self-done", handle = handle, department = department)
                );
            }
            println!("{}", tr!("enroll-valid-until", time = format_utc(enrolment.expires_at)));
            Ok(())
        }
        OrgCommand::Info { handle: wanted, json } => org_info(home, server, &wanted, json).await,
        OrgCommand::ExportKey { file } => {
            let client = Client::open(home, server)?;
            let handle = client.admin_org(handle)?.handle.clone();
            let passphrase = read_passphrase(true)?;
            client.export_org_key(&handle, &file, &passphrase)?;
            println!("{}", tr!("org-exported", handle = handle, file = file.display()));
            println!("{}", tr!("org-export-import-hint"));
            Ok(())
        }
        OrgCommand::ImportKey { file } => {
            let mut client = Client::open(home, server)?;
            let passphrase = read_passphrase(false)?;
            let admin = client.import_org_key(&file, &passphrase).await?;
            println!("{}", tr!("org-imported", org = admin.name, handle = admin.handle));
            println!("{}", fingerprint_of(&admin.key.0));
            Ok(())
        }
        OrgCommand::RotateKey { compromised } => {
            let reason =
                if compromised { RotationReason::Compromised } else { RotationReason::Handover };
            let mut client = open_connected(home, server).await?;
            let handle = client.admin_org(handle)?.handle.clone();
            let result = client.rotate_org_key(&handle, reason).await;
            client.disconnect().await;
            let rotated = result?;
            if rotated.compromised {
                println!(
                    "{}",
                    tr!("org-rotated-compromised", handle = handle, sequence = rotated.sequence)
                );
                println!("{}", tr!("org-rotated-old-refused"));
            } else {
                println!(
                    "{}",
                    tr!("org-rotated-handover", handle = handle, sequence = rotated.sequence)
                );
            }
            println!("{}", tr!("org-rotated-reissued", count = rotated.reissued));
            println!("{}", tr!("org-rotated-followed"));
            println!("{}", tr!("org-rotated-keep-copy"));
            println!("{}", tr!("org-rotated-fingerprint"));
            println!("{}", rotated.fingerprint);
            Ok(())
        }
        OrgCommand::Fingerprint { out } => fingerprint(home, server, handle, out.as_deref()).await,
        OrgCommand::Poster { out, channel, no_channel } => {
            poster(home, server, handle, &out, channel.as_deref(), no_channel).await
        }
        OrgCommand::Category { command } => category(home, server, handle, command).await,
        OrgCommand::Hours { command } => hours(home, server, handle, command).await,
        OrgCommand::Legal { command } => {
            super::org_legal::legal(home, server, handle, command).await
        }
        OrgCommand::Template { command } => {
            super::org_legal::template(home, server, handle, command).await
        }
        OrgCommand::InviteStaff { department, role, expires_hours } => {
            let role = Role::parse(&role)
                .ok_or(ClientError::Invalid { what: "--role", reason: R::Given(role.clone()) })?;
            let mut client = open_connected(home, server).await?;
            let handle = client.admin_org(handle)?.handle.clone();
            let result = client.invite_staff(&handle, &department, role, expires_hours).await;
            client.disconnect().await;
            let invitation = result?;
            println!(
                "{}",
                tr!(
                    "org-invitation",
                    role = role.as_str(),
                    department = department,
                    handle = handle
                )
            );
            println!("{}", tr!("org-invitation-run"));
            println!(
                "{}",
                tr!(
                    "org-invitation-expires",
                    expires = format_utc(invitation.expires_at),
                    valid = format_utc(invitation.cert_expires_at)
                )
            );
            println!("{}", invitation.code);
            Ok(())
        }
        OrgCommand::Staff { json } => {
            let mut client = open_connected(home, server).await?;
            let handle = client.admin_org(handle)?.handle.clone();
            let result = client.org_staff_and_pending(&handle).await;
            client.disconnect().await;
            let (staff, revoked_unknown, pending) = result?;
            if staff.is_empty() && revoked_unknown.is_empty() && pending.is_empty() && !json {
                println!("{}", tr!("org-staff-none"));
            }
            for record in &staff {
                if json {
                    println!(
                        "{}",
                        stadtbote_cli::output::safe_json(
                            &thread_output::staff_json(record).to_string()
                        )
                    );
                } else {
                    println!("{}", thread_output::staff_text(record));
                }
            }
            for enrolment in &pending {
                if json {
                    println!("{}", thread_output::pending_json(enrolment));
                } else {
                    println!("{}", thread_output::pending_text(enrolment));
                }
            }
            for device in &revoked_unknown {
                if json {
                    println!("{}", thread_output::revoked_device_json(device));
                } else {
                    println!("{}", tr!("org-staff-revoked-unseen", device = device));
                }
            }
            Ok(())
        }
        OrgCommand::Approve { device } => {
            let device = parse_device(&device)?;
            let mut client = open_connected(home, server).await?;
            let handle = client.admin_org(handle)?.handle.clone();
            let already = client
                .fetch_org(&handle)
                .await
                .is_ok_and(|o| o.staff.iter().any(|r| r.device == device && r.is_valid()));
            let result = if already {
                Ok(Default::default())
            } else {
                client.approve_enrolments(&handle, Some(device)).await
            };
            client.disconnect().await;
            let report: stadtbote_cli::approval::ApprovalReport = result?;
            if let Some(refused) = report.refused.first() {
                let reason = refused.reason.as_str();
                bail!("{}", tr!("org-approve-refused", device = device, reason = reason));
            }
            match report.approved.first() {
                Some(approved) => println!(
                    "{}",
                    tr!(
                        "org-approved",
                        device = device,
                        role = approved.role.as_str(),
                        department = approved.department,
                        handle = handle,
                        version = approved.version
                    )
                ),
                None => {
                    println!("{}", tr!("org-already-approved", device = device, handle = handle))
                }
            }
            Ok(())
        }
        OrgCommand::Revoke { device } => {
            let device = parse_device(&device)?;
            let mut client = open_connected(home, server).await?;
            let handle = client.admin_org(handle)?.handle.clone();
            let result = client.revoke_device(&handle, device).await;
            client.disconnect().await;
            let revoked = result?;
            if !revoked.was_staff {
                let note = tr!("org-revoke-not-staff", device = device, handle = handle.as_str());
                eprintln!("{}", tr!("note-line", message = note));
            }
            println!("{}", tr!("org-revoked", device = device, version = revoked.version));
            for thread in &revoked.removed_from {
                println!("{}", tr!("org-revoked-removed", thread = thread));
            }
            for (thread, error) in &revoked.failed {
                let error = safe(&stadtbote_cli::error_text::localized(error)).into_owned();
                let warning = tr!("org-revoke-not-removed", thread = thread, error = error);
                eprintln!("{}", tr!("warning-line", message = warning));
            }
            Ok(())
        }
        OrgCommand::TwoFactor { command: TwoFactorCommand::Enable } => {
            let mut client = open_connected(home, server).await?;
            let admin = client.admin_org(handle)?;
            let (org, handle) = (admin.org, admin.handle.clone());
            let secret = Secret::generate();
            let result = client.org_second_factor_enable(org, &secret).await;
            client.disconnect().await;
            result?;
            println!("{}", tr!("org-2fa-enabled", handle = handle));
            print_secret(&secret, &format!("{handle}-org-admin"));
            println!("{}", tr!("org-2fa-pass"));
            Ok(())
        }
        OrgCommand::Show { json } => {
            let mut client = Client::open(home, server)?;
            let handle = client.admin_org(handle)?.handle.clone();
            let connected = super::try_catch_up(&mut client).await?;
            let fetched = if connected { client.fetch_org(&handle).await.ok() } else { None };
            client.disconnect().await;
            let profile = fetched
                .and_then(|o| o.profile)
                .or_else(|| client.admin_org(Some(&handle)).ok().and_then(|a| a.profile.clone()));
            let Some(profile) = profile else { bail!("{}", tr!("org-no-profile")) };
            print_profile(&profile, json);
            Ok(())
        }
    }
}

/// `org enroll-self`: certifies this device (the org admin's) as staff in
/// `department` (default: where consultations go), unless it already is
/// with role admin there. Returns the handle, the enrolment and whether it
/// already was.
async fn enroll_self(
    client: &mut Client,
    handle: Option<&str>,
    department: Option<String>,
) -> Result<(String, stadtbote_cli::staff::Enrolment, bool)> {
    let admin = client.admin_org(handle)?.clone();
    let org = client.fetch_org(&admin.handle).await?;
    let department = department.unwrap_or_else(|| {
        org.profile
            .as_ref()
            .and_then(|p| p.consult_department.clone())
            .unwrap_or_else(|| DEFAULT_CONSULT_DEPARTMENT.to_string())
    });
    let device = client.state().device;
    let current = org
        .staff_device(&device)
        .filter(|r| r.is_valid() && r.role == Role::Admin && r.department == department);
    if current.is_some()
        && let Some(enrolment) = client.enrolment_at(&admin.org).filter(|e| e.approved)
    {
        return Ok((admin.handle, enrolment.clone(), true));
    }
    let enrolment = client.enrol_admin_device(&admin.handle, &department).await?;
    Ok((admin.handle, enrolment, false))
}

/// `org info HANDLE`: with an account, verified against (and pinning) the
/// key this device pinned, or from the cache when the server cannot be
/// reached; without one, one unauthenticated request, nothing stored.
async fn org_info(home: &Path, server: &str, handle: &str, json: bool) -> Result<()> {
    stadtbote_protocol::org::validate_handle(handle)
        .map_err(|e| ClientError::Invalid { what: "handle", reason: R::Format(e) })?;
    let view = match Client::open(home, server) {
        Err(stadtbote_cli::CliError::NotInitialised { .. }) => {
            stadtbote_cli::connection::validate_url(server)?;
            let connector = stadtbote_cli::connection::WsConnector::for_url(server)?;
            stadtbote_cli::org_info::org_info_without_account(
                &connector,
                server,
                handle,
                SystemClock,
            )
            .await?
        }
        Err(error) => return Err(error.into()),
        Ok(mut client) => {
            let before = client.pin(handle)?.cloned();
            let connected = super::try_catch_up(&mut client).await?;
            let result = if connected {
                client.org_info_since(handle, before).await.map(Some)
            } else {
                client.cached_org_info(handle)
            };
            client.disconnect().await;
            match result? {
                Some(view) => view,
                None => bail!("{}", tr!("org-info-no-contact", handle = handle)),
            }
        }
    };
    if json {
        println!("{}", stadtbote_cli::org_info_output::json_line(&view));
    } else {
        for line in stadtbote_cli::org_info_output::text_lines(&view) {
            println!("{line}");
        }
    }
    Ok(())
}

fn print_profile(profile: &OrgProfile, json: bool) {
    if json {
        let value = serde_json::json!({
            "org": profile.org.to_string(),
            "handle": profile.handle,
            "name": profile.name,
            "version": profile.version,
            "updated_at": profile.updated_at,
            "categories": profile.categories.iter().map(|c| serde_json::json!({"name": c.name, "department": c.department})).collect::<Vec<_>>(),
            "office_hours": profile.office_hours.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "timezone": profile.timezone,
            "auto_reply": profile.auto_reply,
            "live_since": profile.live_since,
            "consult_department": profile.consult_department,
        });
        println!("{}", stadtbote_cli::output::safe_json(&value.to_string()));
        return;
    }
    // The profile as the server serves it: every string through `safe`.
    println!(
        "{}",
        tr!(
            "org-profile-header",
            org = safe(&profile.name),
            handle = safe(&profile.handle),
            version = profile.version
        )
    );
    println!("{}", tr!("org-profile-categories"));
    for category in &profile.categories {
        println!("  {} -> {}", safe(&category.name), safe(&category.department));
    }
    let hours: Vec<String> = profile.office_hours.iter().map(ToString::to_string).collect();
    println!(
        "{}",
        tr!(
            "org-profile-hours",
            timezone = safe(&profile.timezone.to_string()),
            hours = safe(&if hours.is_empty() {
                tr!("org-profile-no-hours")
            } else {
                hours.join(", ")
            })
        )
    );
    if let Some(reply) = &profile.auto_reply {
        let reply = stadtbote_cli::output::safe_body(&reply.to_string()).into_owned();
        println!("{}", tr!("org-auto-reply", reply = reply));
    }
    println!(
        "{}",
        tr!(
            "org-profile-consultations",
            department =
                safe(profile.consult_department.as_deref().unwrap_or(DEFAULT_CONSULT_DEPARTMENT))
        )
    );
    match profile.live_since {
        Some(since) => println!("{}", tr!("org-live-since", time = format_utc(since))),
        None => println!("{}", tr!("org-not-live")),
    }
}

async fn fingerprint(
    home: &PathBuf,
    server: &str,
    handle: Option<&str>,
    out: Option<&Path>,
) -> Result<()> {
    let client = Client::open(home, server)?;
    let handle = client.admin_org(handle)?.handle.clone();
    let (key, name) = client.org_key_info(&handle)?;
    let out = out.map_or_else(|| super::channels::default_qr_dir(home), Path::to_path_buf);
    let url = app_links::org_url(app_links::public_url(server).await.as_deref(), &handle, &key);
    let content = app_links::qr_content(url.as_deref(), &org_qr_content(&handle, &key));
    let (png, svg) = qr::write_files(&content, Some(&out), &format!("{handle}-org-key"))?;
    println!("{}", tr!("org-fingerprint-of", org = safe(&name), handle = handle));
    println!("{}", fingerprint_of(&key.0));
    println!("{}", tr!("qr-png", file = png.display()));
    println!("{}", tr!("qr-svg", file = svg.display()));
    if let Some(url) = url {
        println!("{}", tr!("app-link-org-url"));
        println!("{url}");
    }
    Ok(())
}

/// `org poster`: gathers what goes on the poster (the channel from this
/// device's state, name and key from the org's verified directory), then
/// renders and writes it.
async fn poster(
    home: &PathBuf,
    server: &str,
    handle: Option<&str>,
    out: &Path,
    channel: Option<&str>,
    no_channel: bool,
) -> Result<()> {
    let format = Format::of(out)?;
    let mut client = Client::open(home, server)?;
    let chosen = channel.map(|text| client.resolve_published(text)).transpose()?;
    let handle = poster_handle(&client, handle, chosen)?;
    let published = match (no_channel, chosen) {
        (true, _) => None,
        (false, Some(id)) => client.state().channels.get(&id).cloned(),
        (false, None) => {
            let first = client
                .state()
                .channels
                .values()
                .filter(|c| c.handle == handle)
                .min_by_key(|c| (c.meta.created_at, c.channel))
                .cloned();
            match first {
                Some(published) => Some(published),
                None => bail!("{}", tr!("poster-no-channel-created", handle = handle.as_str())),
            }
        }
    };
    client.connect().await?;
    let fetched = client.fetch_org(&handle).await;
    client.disconnect().await;
    let org = fetched?;
    let public_url = app_links::public_url(server).await;
    let url = app_links::org_url(public_url.as_deref(), &handle, &org.key);
    let channel = match &published {
        Some(published) if published.org != org.org => bail!(
            "{}",
            tr!("poster-channel-other-org", channel = published.channel, handle = handle.as_str())
        ),
        Some(published) => Some(PosterChannel {
            name: published.meta.name.clone(),
            // The URL, or upper case as `channel create` writes it.
            invite_qr: {
                let invite = published.invite(org.key);
                let url = app_links::channel_url(public_url.as_deref(), &invite);
                app_links::qr_content(url.as_deref(), &invite.to_link().to_ascii_uppercase())
            },
        }),
        None => None,
    };
    let content = Poster {
        town: org.name().to_string(),
        handle: handle.clone(),
        fingerprint: fingerprint_of(&org.key.0),
        org_qr: app_links::qr_content(url.as_deref(), &org_qr_content(&handle, &org.key)),
        url,
        channel,
    };
    let bytes = match format {
        Format::Pdf => poster::to_pdf(&content)?,
        Format::Svg => poster::to_svg(&content)?.into_bytes(),
    };
    std::fs::write(out, bytes).map_err(|source| stadtbote_cli::CliError::Io {
        action: "write",
        file: out.to_path_buf(),
        source,
    })?;
    println!(
        "{}",
        tr!(
            "poster-written",
            town = safe(&content.town),
            handle = handle.as_str(),
            file = out.display(),
            format = format.name()
        )
    );
    match &published {
        Some(published) => println!(
            "{}",
            tr!(
                "poster-channel-on-it",
                name = safe(&published.meta.name),
                channel = published.channel
            )
        ),
        None => println!("{}", tr!("poster-no-channel-on-it")),
    }
    println!("{}", tr!("poster-fingerprint-on-it", fingerprint = content.fingerprint.as_str()));
    Ok(())
}

/// The org a poster is for: the chosen channel's, `--org`, the org this
/// device administers, or the one org this device publishes channels of.
fn poster_handle(
    client: &Client,
    handle: Option<&str>,
    chosen: Option<stadtbote_protocol::ChannelId>,
) -> Result<String> {
    let channels = &client.state().channels;
    if let Some(published) = chosen.and_then(|id| channels.get(&id)) {
        if let Some(handle) = handle.filter(|h| *h != published.handle) {
            bail!(
                "{}",
                tr!(
                    "poster-channel-not-of-org",
                    channel = published.channel,
                    owner = published.handle.as_str(),
                    handle = handle
                )
            );
        }
        return Ok(published.handle.clone());
    }
    if let Some(handle) = handle {
        return Ok(handle.to_string());
    }
    match client.admin_org(None) {
        Ok(admin) => return Ok(admin.handle.clone()),
        Err(ClientError::NotOrgAdmin) => {}
        Err(other) => return Err(other.into()),
    }
    let mut handles: Vec<&str> = channels.values().map(|c| c.handle.as_str()).collect();
    handles.sort_unstable();
    handles.dedup();
    match handles.as_slice() {
        [one] => Ok((*one).to_string()),
        [] => bail!("{}", tr!("poster-no-org")),
        several => bail!("{}", tr!("poster-several-orgs", orgs = several.join(", "))),
    }
}

async fn category(
    home: &PathBuf,
    server: &str,
    handle: Option<&str>,
    command: CategoryCommand,
) -> Result<()> {
    let mut client = open_connected(home, server).await?;
    let handle = client.admin_org(handle)?.handle.clone();
    let (result, message) = match command {
        CategoryCommand::Add { name, department } => {
            validate_category(&name)?;
            stadtbote_protocol::org::validate_department(&department)
                .map_err(|e| ClientError::Invalid { what: "department", reason: R::Format(e) })?;
            let mut added = true;
            let result = client
                .update_profile(&handle, |p| {
                    added = set_category(p, &name, &department);
                    Ok(())
                })
                .await;
            let message = if added {
                tr!("org-category-added", name = name, department = department)
            } else {
                tr!("org-category-moved", name = name, department = department)
            };
            (result, message)
        }
        CategoryCommand::Remove { name } => {
            let result = client
                .update_profile(&handle, |p| {
                    let before = p.categories.len();
                    p.categories.retain(|c| !c.name.eq_ignore_ascii_case(&name));
                    if p.categories.len() == before {
                        return Err(ClientError::Invalid {
                            what: "category",
                            reason: R::NoSuchCategory { name: name.clone() },
                        });
                    }
                    Ok(())
                })
                .await;
            (result, tr!("org-category-removed", name = name))
        }
    };
    client.disconnect().await;
    let profile = result?;
    println!("{message}");
    println!(
        "{}",
        tr!(
            "org-profile-published-of",
            version = profile.version,
            org = safe(&profile.name),
            handle = handle
        )
    );
    Ok(())
}

async fn hours(
    home: &PathBuf,
    server: &str,
    handle: Option<&str>,
    command: HoursCommand,
) -> Result<()> {
    // Checked before connecting: nothing to do with a typo.
    let parsed = match &command {
        HoursCommand::Set { slots, department, .. } => {
            if let Some(department) = department {
                stadtbote_protocol::org::validate_department(department).map_err(|e| {
                    ClientError::Invalid { what: "department", reason: R::Format(e) }
                })?;
            }
            Some(parse_slots(slots)?)
        }
        HoursCommand::Live { .. } => None,
    };
    let mut client = open_connected(home, server).await?;
    let handle = client.admin_org(handle)?.handle.clone();
    let now = client.now_ms();
    let result = match &command {
        HoursCommand::Set { auto_reply, department, .. } => {
            let slots = parsed.unwrap_or_default();
            client
                .update_profile(&handle, |p| {
                    p.office_hours = slots;
                    if let Some(reply) = auto_reply {
                        p.auto_reply = (!reply.trim().is_empty()).then(|| reply.clone());
                    }
                    let chosen = department.clone().or_else(|| p.consult_department.clone());
                    p.consult_department =
                        Some(chosen.unwrap_or_else(|| DEFAULT_CONSULT_DEPARTMENT.to_string()));
                    Ok(())
                })
                .await
        }
        HoursCommand::Live { state } => {
            let on = matches!(state, OnOff::On);
            client
                .update_profile(&handle, |p| {
                    p.live_since = on.then_some(now);
                    if on && p.consult_department.is_none() {
                        p.consult_department = Some(DEFAULT_CONSULT_DEPARTMENT.to_string());
                    }
                    Ok(())
                })
                .await
        }
    };
    // Who would answer: a consultation to a department without an
    // approved staff device cannot be sent, which nobody fixes by waiting.
    let unstaffed = match &result {
        Ok(profile) => {
            let department = profile
                .consult_department
                .clone()
                .unwrap_or_else(|| DEFAULT_CONSULT_DEPARTMENT.into());
            match client.fetch_org(&handle).await {
                Ok(org) if org.valid_staff(&department).is_empty() => Some(department),
                _ => None,
            }
        }
        Err(_) => None,
    };
    client.disconnect().await;
    let profile = result?;
    if let Some(department) = unstaffed {
        let department = safe(&department);
        let warning = tr!("org-hours-unstaffed", department = department);
        eprintln!("{}", tr!("warning-line", message = warning));
    }
    match command {
        HoursCommand::Set { .. } => {
            let hours: Vec<String> = profile.office_hours.iter().map(ToString::to_string).collect();
            println!(
                "{}",
                tr!(
                    "org-hours-set",
                    org = safe(&profile.name),
                    timezone = safe(&profile.timezone.to_string()),
                    hours = safe(&hours.join(", "))
                )
            );
            println!(
                "{}",
                tr!(
                    "org-hours-department",
                    department = safe(
                        profile.consult_department.as_deref().unwrap_or(DEFAULT_CONSULT_DEPARTMENT)
                    )
                )
            );
            if let Some(reply) = &profile.auto_reply {
                let reply = stadtbote_cli::output::safe_body(&reply.to_string()).into_owned();
                println!("{}", tr!("org-auto-reply", reply = reply));
            }
        }
        HoursCommand::Live { state: OnOff::On } => {
            println!("{}", tr!("org-live-on", org = safe(&profile.name)));
        }
        HoursCommand::Live { state: OnOff::Off } => {
            println!("{}", tr!("org-live-off", org = safe(&profile.name)));
        }
    }
    println!("{}", tr!("org-profile-published", version = profile.version));
    Ok(())
}

/// Prints a new TOTP secret for the authenticator app. It is shown once and
/// stored nowhere on this device.
fn print_secret(secret: &Secret, label: &str) {
    println!("{}", tr!("second-factor-add"));
    println!("{}", otpauth_uri(secret, label));
    println!("{}", tr!("second-factor-secret", secret = secret.to_base32()));
}

/// Parses `30d`, `12h`, `90m`, `3600s` or plain seconds.
fn parse_duration(text: &str) -> Result<u64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
        _ => (text, 's'),
    };
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => bail!("{}", tr!("duration-unknown-unit", text = format!("{text:?}"))),
    };
    let Ok(value) = digits.parse::<u64>() else {
        bail!("{}", tr!("duration-invalid", text = format!("{text:?}")));
    };
    value
        .checked_mul(factor)
        .ok_or_else(|| anyhow::anyhow!("{}", tr!("duration-too-long", text = format!("{text:?}"))))
}

fn print_periods(periods: &[RetentionPeriod], json: bool) -> Result<()> {
    for period in periods {
        if json {
            println!("{}", stadtbote_cli::output::safe_json(&serde_json::to_string(period)?));
        } else {
            let lang = stadtbote_i18n::language();
            let args = [
                ("kind", Arg::Text(format!("{:<18}", safe(&period.kind)))),
                ("secs", Arg::Text(format!("{:>12}", period.secs))),
                (
                    "what",
                    Arg::Text(retention_text::period_what_in(lang, &period.kind, &period.what)),
                ),
                ("source", Arg::Text(retention_text::source_in(lang, &period.source))),
            ];
            println!("{}", stadtbote_i18n::tr("privacy-period-line", &args));
        }
    }
    Ok(())
}

/// A device id given on the command line, or a typed error naming it.
fn parse_device(text: &str) -> Result<DeviceId, ClientError> {
    DeviceId::parse(text).map_err(|_| ClientError::Invalid {
        what: "device id",
        reason: R::NotADeviceId { text: text.to_string() },
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d").ok(), Some(2_592_000));
        assert_eq!(parse_duration("12h").ok(), Some(43_200));
        assert_eq!(parse_duration("90m").ok(), Some(5_400));
        assert_eq!(parse_duration("3600s").ok(), Some(3_600));
        assert_eq!(parse_duration("3600").ok(), Some(3_600));
        assert!(parse_duration("3w").is_err() && parse_duration("d").is_err());
    }
}
