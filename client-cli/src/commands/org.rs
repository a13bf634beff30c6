//! `stadtbote admin …` and `stadtbote org …`.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::{Subcommand, ValueEnum};
use stadtbote_cli::consult::parse_slots;
use stadtbote_cli::org::{
    DEFAULT_CONSULT_DEPARTMENT, DEFAULT_INVITE_HOURS, set_category, validate_category,
};
use stadtbote_cli::output::{format_utc, safe};
use stadtbote_cli::passphrase::read_passphrase;
use stadtbote_cli::qr::{self, org_qr_content};
use stadtbote_cli::{Client, ClientError, thread_output};
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
}

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
        /// The department that answers.
        #[arg(long, default_value = DEFAULT_CONSULT_DEPARTMENT)]
        department: String,
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
            bail!("`batch` and `shell` cannot be run inside a session")
        }
        AdminCommand::Claim { code } => {
            let secret = Secret::generate();
            client.admin_claim(&code, &secret).await?;
            println!("This device is now a server admin.");
            print_secret(&secret, "server-admin");
            println!(
                "Every admin command now needs the app's current code: stadtbote --otp CODE admin …"
            );
            println!(
                "Create an org with: stadtbote --otp CODE admin org create NAME --handle HANDLE"
            );
        }
        AdminCommand::Retention { command: RetentionCommand::Show { json } } => {
            print_periods(&client.admin_retention(None).await?, json)?;
        }
        AdminCommand::Retention { command: RetentionCommand::Set { kind, duration } } => {
            let secs = parse_duration(&duration)?;
            let periods = client.admin_retention(Some((kind.clone(), secs))).await?;
            println!("Retention of {kind} is now {secs} seconds.");
            print_periods(&periods, false)?;
        }
        AdminCommand::Audit { json, verify, accept_gap, after } => {
            let args = super::audit::AuditArgs { json, verify, accept_gap, after };
            super::audit::audit(client, home, args).await?;
        }
        AdminCommand::Org { command: AdminOrgCommand::Suspend { handle } } => {
            client.admin_set_suspended(&handle, true).await?;
            println!("Suspended the org {handle}.");
        }
        AdminCommand::Org { command: AdminOrgCommand::Resume { handle } } => {
            client.admin_set_suspended(&handle, false).await?;
            println!("Resumed the org {handle}.");
        }
        AdminCommand::Org { command: AdminOrgCommand::ResetTwoFactor { handle } } => {
            if client.admin_reset_org_second_factor(&handle).await? {
                println!("Turned off the second factor of the org {handle}.");
            } else {
                println!("The org {handle} had no second factor set up; nothing changed.");
            }
            println!(
                "Its org admin now sets up a new secret with: stadtbote org 2fa enable (the old codes no longer work)."
            );
        }
        AdminCommand::Org { command: AdminOrgCommand::Create { name, handle } } => {
            let created = client.create_org(&name, &handle, None).await?;
            println!(
                "Created the org {} ({}), id {}.",
                safe(&name),
                safe(&created.handle),
                created.org
            );
            println!(
                "Give this one-time code to the org's admin, who runs `stadtbote org claim CODE` on their device."
            );
            println!("The code expires at {}.", format_utc(created.expires_at));
            println!("{}", created.code);
        }
        AdminCommand::Stats { json } => {
            let stats = client.admin_stats(None).await?;
            if json {
                println!("{}", stadtbote_cli::output::safe_json(&serde_json::to_string(&stats)?));
            } else {
                println!("accounts: {}", stats.accounts);
                println!("devices: {}", stats.devices);
                println!("connected: {}", stats.connected);
                println!("queued_envelopes: {}", stats.queued_envelopes);
                println!("stored_bytes: {}", stats.stored_bytes);
                println!("channels: {}", stats.channels);
                println!("channel_posts: {}", stats.channel_posts);
                println!();
                println!("{:<32} {:>13} {:>8}", "org", "staff_devices", "channels");
                for org in &stats.orgs {
                    println!(
                        "{:<32} {:>13} {:>8}",
                        safe(&org.handle),
                        org.staff_devices,
                        org.channels
                    );
                }
            }
        }
        AdminCommand::Backup { file, recipients, insecure_plaintext, json } => {
            let summary = client.admin_backup(&file, recipients, insecure_plaintext, None).await?;
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                println!("wrote {}", summary.file.display());
                println!("size: {}", summary.size);
                println!("sha256: {}", summary.sha256);
                println!("encrypted: {}", summary.encrypted);
            }
        }
        AdminCommand::Block { account } => set_blocked(client, &account, true).await?,
        AdminCommand::Unblock { account } => {
            set_blocked(client, &account, false).await?;
        }
        AdminCommand::Org { command: AdminOrgCommand::List { json } } => {
            let orgs = client.list_orgs(None).await?;
            if orgs.is_empty() && !json {
                println!("No orgs yet.");
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
    let verb = if blocked { "blocked" } else { "unblocked" };
    let noun = if devices == 1 { "device" } else { "devices" };
    println!("{verb} {id} ({devices} {noun})");
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
            client.disconnect().await;
            let admin = result?;
            println!(
                "This device is now the org admin of {} ({}).",
                safe(&admin.name),
                safe(&admin.handle)
            );
            println!(
                "The org key was created on this device: {}",
                home.join("org").join(format!("{}.key", admin.handle)).display()
            );
            println!("Keep a copy in a safe place: stadtbote org export-key FILE");
            println!("Org key fingerprint (print it on posters and your website):");
            println!("{}", fingerprint_of(&admin.key.0));
            Ok(())
        }
        OrgCommand::ExportKey { file } => {
            let client = Client::open(home, server)?;
            let handle = client.admin_org(handle)?.handle.clone();
            let passphrase = read_passphrase(true)?;
            client.export_org_key(&handle, &file, &passphrase)?;
            println!(
                "Wrote the org key of {handle}, encrypted with your passphrase, to {}",
                file.display()
            );
            println!("Import it on another device with: stadtbote org import-key FILE");
            Ok(())
        }
        OrgCommand::ImportKey { file } => {
            let mut client = Client::open(home, server)?;
            let passphrase = read_passphrase(false)?;
            let admin = client.import_org_key(&file, &passphrase)?;
            println!("Imported the org key of {} ({}).", admin.name, admin.handle);
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
                    "Replaced the org key of {handle} and revoked the old one (rotation {}).",
                    rotated.sequence
                );
                println!("Clients refuse anything the old key signs from now on.");
            } else {
                println!(
                    "Handed the org key of {handle} over to a new key (rotation {}).",
                    rotated.sequence
                );
            }
            println!("Re-issued {} staff certificate(s) under the new key.", rotated.reissued);
            println!("Citizens' clients follow the signed change without a warning.");
            println!("Keep a copy of the new key in a safe place: stadtbote org export-key FILE");
            println!("New org key fingerprint (print it on new posters and your website):");
            println!("{}", rotated.fingerprint);
            Ok(())
        }
        OrgCommand::Fingerprint { out } => fingerprint(home, server, handle, out.as_deref()),
        OrgCommand::Category { command } => category(home, server, handle, command).await,
        OrgCommand::Hours { command } => hours(home, server, handle, command).await,
        OrgCommand::InviteStaff { department, role, expires_hours } => {
            let role = Role::parse(&role)
                .ok_or(ClientError::Invalid { what: "--role", reason: role.clone() })?;
            let mut client = open_connected(home, server).await?;
            let handle = client.admin_org(handle)?.handle.clone();
            let result = client.invite_staff(&handle, &department, role, expires_hours).await;
            client.disconnect().await;
            let invitation = result?;
            println!("Invitation for a {} of department {department} at {handle}.", role.as_str());
            println!("On the staff member's device, run: stadtbote enroll CODE");
            println!(
                "The code works once and expires at {}; the certificate is valid until {}.",
                format_utc(invitation.expires_at),
                format_utc(invitation.cert_expires_at)
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
                println!("No staff devices are enrolled yet.");
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
                    println!("{device}  (certificate not seen on this device)  REVOKED");
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
                bail!("did not approve device {device}: {}", refused.reason);
            }
            match report.approved.first() {
                Some(approved) => println!(
                    "Approved device {device} as {} of {} at {handle} (staff list version {}).",
                    approved.role.as_str(),
                    approved.department,
                    approved.version
                ),
                None => {
                    println!("Device {device} is already an approved staff device of {handle}.")
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
                eprintln!("note: device {device} holds no certificate of {handle}");
            }
            println!("Revoked device {device} (revocation list version {}).", revoked.version);
            for thread in &revoked.removed_from {
                println!("Removed it from thread {thread}.");
            }
            for (thread, error) in &revoked.failed {
                eprintln!(
                    "warning: could not remove it from thread {thread} now ({}); every member removes it before their next message",
                    safe(&error.to_string())
                );
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
            println!("Org admin actions of {handle} now need a second factor.");
            print_secret(&secret, &format!("{handle}-org-admin"));
            println!("Pass the app's current code with: stadtbote --otp CODE org …");
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
            let Some(profile) = profile else { bail!("no profile published yet") };
            print_profile(&profile, json);
            Ok(())
        }
    }
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
        "{} ({}), profile version {}",
        safe(&profile.name),
        safe(&profile.handle),
        profile.version
    );
    println!("Categories:");
    for category in &profile.categories {
        println!("  {} -> {}", safe(&category.name), safe(&category.department));
    }
    let hours: Vec<String> = profile.office_hours.iter().map(ToString::to_string).collect();
    println!(
        "Office hours ({}): {}",
        safe(&profile.timezone.to_string()),
        safe(&if hours.is_empty() { "none".into() } else { hours.join(", ") })
    );
    if let Some(reply) = &profile.auto_reply {
        println!("Auto-reply: {}", stadtbote_cli::output::safe_body(&reply.to_string()));
    }
    println!(
        "Consultations go to: {}",
        safe(profile.consult_department.as_deref().unwrap_or(DEFAULT_CONSULT_DEPARTMENT))
    );
    match profile.live_since {
        Some(since) => println!("Live since {}", format_utc(since)),
        None => println!("Not live"),
    }
}

fn fingerprint(
    home: &PathBuf,
    server: &str,
    handle: Option<&str>,
    out: Option<&Path>,
) -> Result<()> {
    let client = Client::open(home, server)?;
    let handle = client.admin_org(handle)?.handle.clone();
    let (key, name) = client.org_key_info(&handle)?;
    let out = out.map_or_else(|| super::channels::default_qr_dir(home), Path::to_path_buf);
    let (png, svg) =
        qr::write_files(&org_qr_content(&handle, &key), Some(&out), &format!("{handle}-org-key"))?;
    println!("Org key of {} ({handle}); citizens compare this fingerprint:", safe(&name));
    println!("{}", fingerprint_of(&key.0));
    println!("QR code (PNG): {}", png.display());
    println!("QR code (SVG): {}", svg.display());
    Ok(())
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
                .map_err(|e| ClientError::Invalid { what: "department", reason: e.to_string() })?;
            let mut added = true;
            let result = client
                .update_profile(&handle, |p| {
                    added = set_category(p, &name, &department);
                    Ok(())
                })
                .await;
            let verb = if added { "Added" } else { "Moved" };
            (result, format!("{verb} category {name}: reports go to department {department}."))
        }
        CategoryCommand::Remove { name } => {
            let result = client
                .update_profile(&handle, |p| {
                    let before = p.categories.len();
                    p.categories.retain(|c| !c.name.eq_ignore_ascii_case(&name));
                    if p.categories.len() == before {
                        return Err(ClientError::Invalid {
                            what: "category",
                            reason: format!("{name:?} does not exist"),
                        });
                    }
                    Ok(())
                })
                .await;
            (result, format!("Removed category {name}."))
        }
    };
    client.disconnect().await;
    let profile = result?;
    println!("{message}");
    println!(
        "Published profile version {} of {} ({handle}).",
        profile.version,
        safe(&profile.name)
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
            stadtbote_protocol::org::validate_department(department)
                .map_err(|e| ClientError::Invalid { what: "department", reason: e.to_string() })?;
            Some(parse_slots(slots)?)
        }
        HoursCommand::Live { .. } => None,
    };
    let mut client = open_connected(home, server).await?;
    let handle = client.admin_org(handle)?.handle.clone();
    let now = stadtbote_cli::session::now_ms();
    let result = match &command {
        HoursCommand::Set { auto_reply, department, .. } => {
            let slots = parsed.unwrap_or_default();
            client
                .update_profile(&handle, |p| {
                    p.office_hours = slots;
                    if let Some(reply) = auto_reply {
                        p.auto_reply = (!reply.trim().is_empty()).then(|| reply.clone());
                    }
                    p.consult_department = Some(department.clone());
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
    client.disconnect().await;
    let profile = result?;
    match command {
        HoursCommand::Set { .. } => {
            let hours: Vec<String> = profile.office_hours.iter().map(ToString::to_string).collect();
            println!(
                "Office hours of {} ({}): {}",
                safe(&profile.name),
                safe(&profile.timezone.to_string()),
                safe(&hours.join(", "))
            );
            println!(
                "Consultations go to department {}.",
                safe(profile.consult_department.as_deref().unwrap_or(DEFAULT_CONSULT_DEPARTMENT))
            );
            if let Some(reply) = &profile.auto_reply {
                println!("Auto-reply: {}", stadtbote_cli::output::safe_body(&reply.to_string()));
            }
        }
        HoursCommand::Live { state: OnOff::On } => {
            println!("The consultation session of {} is live.", safe(&profile.name));
        }
        HoursCommand::Live { state: OnOff::Off } => {
            println!("The consultation session of {} has ended.", safe(&profile.name));
        }
    }
    println!("Published profile version {}.", profile.version);
    Ok(())
}

/// Prints a new TOTP secret for the authenticator app. It is shown once and
/// stored nowhere on this device.
fn print_secret(secret: &Secret, label: &str) {
    println!("Add this second factor to your authenticator app (shown only now, not stored here):");
    println!("{}", otpauth_uri(secret, label));
    println!("secret (base32): {}", secret.to_base32());
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
        _ => bail!("unknown duration unit in {text:?}; use s, m, h or d, e.g. 30d"),
    };
    let Ok(value) = digits.parse::<u64>() else {
        bail!("{text:?} is not a duration like 30d, 12h, 90m or 3600s");
    };
    value.checked_mul(factor).ok_or_else(|| anyhow::anyhow!("the duration {text:?} is too long"))
}

fn print_periods(periods: &[RetentionPeriod], json: bool) -> Result<()> {
    for period in periods {
        if json {
            println!("{}", stadtbote_cli::output::safe_json(&serde_json::to_string(period)?));
        } else {
            println!(
                "{:<18} {:>12} s  ({}; set by {})",
                safe(&period.kind),
                period.secs,
                safe(&period.what),
                safe(&period.source)
            );
        }
    }
    Ok(())
}

/// A device id given on the command line, or a typed error naming it.
fn parse_device(text: &str) -> Result<DeviceId, ClientError> {
    DeviceId::parse(text).map_err(|_| ClientError::Invalid {
        what: "device id",
        reason: format!("{text:?} is not a device id"),
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
