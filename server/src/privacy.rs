//! The `/privacy` statement: what the server stores, why, and for how long,
//! computed from the running configuration so that it cannot drift from
//! what the server actually does. Retention periods an admin changed at run
//! time replace the configured ones in every answer (see
//! [`PrivacyStatement::with_periods`]).

use std::collections::BTreeMap;

use serde::Serialize;
use stadtbote_protocol::frame::RetentionPeriod;

use crate::config::Config;

/// One kind of stored data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredItem {
    /// What it is.
    pub item: &'static str,
    /// Stable name of the row, so that a client can show the row in its
    /// user's language (its catalog's `privacy-item-KEY` and
    /// `privacy-retention-KEY`); the English texts stay for other readers.
    pub key: &'static str,
    /// What exactly is stored.
    pub contents: &'static str,
    /// Why it is needed.
    pub purpose: &'static str,
    /// How long it is kept, in words.
    pub retention: String,
    /// How long it is kept in seconds, when that is a fixed time.
    pub retention_secs: Option<u64>,
    /// The numbers in `retention`, by name (`secs`, `upload_secs`, `days`,
    /// …; names ending in `secs` are durations in seconds), so that a
    /// client can word the retention itself.
    pub retention_values: BTreeMap<&'static str, u64>,
}

/// Something the server never stores, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeverStored {
    /// What it is.
    pub item: &'static str,
    /// Stable name of the row (a client's `privacy-never-KEY`).
    pub key: &'static str,
    /// Why the server does not (or cannot) keep it.
    pub explanation: &'static str,
}

/// The configured retention times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retention {
    /// Undelivered envelopes are deleted after this many seconds.
    pub envelope_ttl_secs: u64,
    /// Link codes stop working and are deleted after this many seconds.
    pub link_code_ttl_secs: u64,
    /// Completed attachments are deleted after this many seconds.
    pub blob_ttl_secs: u64,
    /// Unfinished uploads are deleted after this many seconds.
    pub upload_ttl_secs: u64,
    /// Channel posts are kept at most this many days (each channel sets
    /// its own retention up to this).
    pub max_channel_retention_days: u32,
}

/// Who runs the server (from `operator_name` and `operator_contact`);
/// `None` where the operator has not configured it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operator {
    /// The operator's name.
    pub name: Option<String>,
    /// How to reach the operator about privacy.
    pub contact: Option<String>,
}

/// Limits a user of the service meets (the web app's About page shows
/// them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// The largest attachment (a photo, encrypted), in bytes.
    pub max_attachment_bytes: u64,
    /// Attachment bytes one account may hold.
    pub attachment_quota_bytes: u64,
}

/// The whole statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrivacyStatement {
    /// Who runs this server.
    pub operator: Operator,
    /// The address of the service's web app (`public_url`), when the
    /// operator configured one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// The operator's own map tile server (`map_tiles_url`, a URL
    /// template with `{z}`, `{x}`, `{y}`), when configured: the web app
    /// may embed a map from it (its origin is the only other one the
    /// page's policy allows images from). Staff browsers that show a map
    /// request tiles from it, so it sees their addresses and the area.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_tiles_url: Option<String>,
    /// Where people report accessibility barriers of the web app
    /// (`accessibility_contact`), when the operator configured it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accessibility_contact: Option<String>,
    /// The enforcement body the accessibility statement names
    /// (`accessibility_enforcement`), when the operator configured it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accessibility_enforcement: Option<String>,
    /// Limits a user meets.
    pub limits: Limits,
    /// Where the server's source code can be obtained.
    pub source_code: String,
    /// What is stored.
    pub stored: Vec<StoredItem>,
    /// What is never stored.
    pub never_stored: Vec<NeverStored>,
    /// The retention times in force.
    pub retention: Retention,
    /// Every retention period in force, by kind, with where its value
    /// comes from (`config` or `admin`): the admin-settable ones, then the
    /// ones only the configuration sets ([`fixed_periods`]).
    pub retention_periods: Vec<RetentionPeriod>,
    /// The periods only the configuration sets, appended to every
    /// `retention_periods` (kept apart so that admin changes replace only
    /// the others).
    #[serde(skip)]
    fixed_periods: Vec<RetentionPeriod>,
}

/// Retention periods that no admin can change at run time, so they are not
/// [`crate::relay::RetentionKind`]s: staff invitations, the envelope log's
/// segments, staged online backups and the nightly backup archives. Together with the settable
/// ones they are every period the server (and its backup timer) enforces.
pub fn fixed_periods(config: &Config) -> Vec<RetentionPeriod> {
    let period = |kind: &str, secs: u64, what: &str| RetentionPeriod {
        kind: kind.to_owned(),
        what: what.to_owned(),
        secs,
        source: "config".to_owned(),
    };
    vec![
        period(
            "staff-invitations",
            config.max_invite_ttl_secs.saturating_mul(2),
            "staff invitation records: valid at most max_invite_ttl_secs, deleted one further lifetime after they expire",
        ),
        period(
            "envelope-log-segments",
            config.envelope_segment_max_age_secs.saturating_add(config.sweep_interval_secs),
            "bytes of acknowledged or deleted envelopes stay in their envelope-log segment file about this long (longer while an older envelope still queued keeps the segment)",
        ),
        period(
            "staged-backups",
            config.backup_staging_ttl_secs,
            "online backups staged on the server for download (deleted after the download, at the latest after this)",
        ),
        period(
            "backups",
            config.backup_survival_days().saturating_mul(86_400),
            "nightly backup archives: how long a deleted account survives in them (backup_keep_daily, backup_keep_weekly)",
        ),
    ]
}

/// A row's named numbers ([`StoredItem::retention_values`]).
fn values(pairs: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
    pairs.iter().copied().collect()
}

/// "2592000 seconds (30 days)" style durations for the text form.
fn human(secs: u64) -> String {
    const DAY: u64 = 86_400;
    if secs >= DAY && secs.is_multiple_of(DAY) {
        format!("{secs} seconds ({} days)", secs / DAY)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{secs} seconds ({} minutes)", secs / 60)
    } else {
        format!("{secs} seconds")
    }
}

impl PrivacyStatement {
    /// The statement for a configuration.
    pub fn from_config(config: &Config) -> Self {
        let envelope = config.envelope_ttl_secs;
        let link = config.link_code_ttl_secs;
        let org_code = config.org_claim_code_ttl_secs;
        let invite = config.max_invite_ttl_secs;
        let blob = config.blob_ttl_secs;
        let upload = config.upload_ttl_secs;
        let channel_days = config.max_channel_retention_days;
        let channel_secs = u64::from(channel_days).saturating_mul(86_400);
        let staging = config.backup_staging_ttl_secs;
        let survival = config.backup_survival_days().saturating_mul(86_400);
        let mut stored = vec![
            StoredItem {
                item: "accounts",
                key: "accounts",
                contents: "a random 128-bit account id and its creation time; no phone number, e-mail address or name",
                purpose: "addressing: others find an account's devices by its id",
                retention: "until the account is deleted".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "devices",
                key: "devices",
                contents: "a random device id (the files hold it only keyed with the server's pepper, and sealed with the account's key), the device's public identity key (Ed25519) and its registration time",
                purpose: "logging in by signed challenge, and letting others verify and add the device to conversations",
                retention: "until the device or its account is deleted".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "key packages",
                key: "key-packages",
                contents: "MLS KeyPackages (public keys) uploaded by each device",
                purpose: "letting others start an end-to-end encrypted conversation with a device while it is offline",
                retention: "one-time packages until claimed by someone starting a conversation; the last-resort package until the device replaces it".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "groups",
                key: "groups",
                contents: "group id and the ids of member devices, both keyed with the server's pepper (HMAC), and the current epoch; no group name or content",
                purpose: "ordering group changes (one commit per epoch) and fanning each message out to the member devices",
                retention: "while the group exists".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "group expiry",
                key: "group-expiry",
                contents: "for groups whose members set one, the time at which the group is deleted",
                purpose: "disappearing conversations (e.g. consultation hours): at that time the group and every envelope still queued for it are deleted",
                retention: "while the group exists".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "group join info",
                key: "group-join-info",
                contents: "for discussion groups joined by link, the group's MLS GroupInfo sealed with the link secret, the SHA-256 of the join token and the id of the org whose staff moderate the group; the server can read neither the group's name nor its messages",
                purpose: "letting people join a discussion group with its link while no member is online, and refusing old links once a member replaces the link",
                retention: "while the group exists; replaced when a member stores a new one".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "envelopes",
                key: "envelopes",
                contents: "MLS ciphertext addressed to device mailboxes (keyed device ids) and the time it was stored; no sender. The MLS header of the ciphertext names its group in clear",
                purpose: "store-and-forward delivery to devices that are offline",
                retention: format!(
                    "deleted as soon as the receiving device acknowledges it; undelivered envelopes are deleted after {}",
                    human(envelope)
                ),
                retention_secs: Some(envelope),
                retention_values: values(&[("secs", envelope)]),
            },
            StoredItem {
                item: "link codes",
                key: "link-codes",
                contents: "the SHA-256 hash of a one-time device link code and the account it links to",
                purpose: "adding a new device to an existing account",
                retention: format!("until used, at most {}", human(link)),
                retention_secs: Some(link),
                retention_values: values(&[("secs", link)]),
            },
            StoredItem {
                item: "device lists",
                key: "device-lists",
                contents: "each account's newest list of its devices (device ids, public keys, a version), signed by the account's own key and encrypted with the account's deletion key",
                purpose: "letting others' apps check that a device really belongs to an account: they encrypt only to devices on this signed list",
                retention: "until the account publishes a newer list or is deleted".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "link slots",
                key: "link-slots",
                contents: "while a device is being linked: the new device's request (device id, public key, a check value) and the approval sealed with a key only the two devices know, encrypted with the account's deletion key",
                purpose: "passing the approval of a new device between two devices of one account",
                retention: format!("until taken, at most {}", human(link)),
                retention_secs: Some(link),
                retention_values: values(&[("secs", link)]),
            },
        ];
        stored.extend([
            StoredItem {
                item: "audit log",
                key: "audit-log",
                contents: "admin and org-admin actions, allowed or refused: when, a pseudonym of the acting device (a prefix of an HMAC keyed with the server's pepper, never its id), its role, the action, the org handle or an account pseudonym (keyed the same way) it concerned, and the outcome; hash-chained so that changes are detectable",
                purpose: "accountability of the server's and organisations' admins",
                retention: human(u64::from(config.audit_retention_days).saturating_mul(86_400)),
                retention_secs: Some(u64::from(config.audit_retention_days).saturating_mul(86_400)),
                retention_values: values(&[("secs", u64::from(config.audit_retention_days).saturating_mul(86_400))]),
            },
            StoredItem {
                item: "server admins",
                key: "server-admins",
                contents: "the device ids of the server's admins and since when",
                purpose: "letting only admins create organisations",
                retention: "until the admin is removed".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "admin and org claim codes",
                key: "admin-and-org-claim-codes",
                contents: "the SHA-256 hash of a one-time code (never the code), the org it claims, its expiry and whether it was used",
                purpose: "handing over the server-admin role and an organisation's admin role once",
                retention: format!(
                    "the admin claim code until used; org-admin codes until used or expired (at most {}), the record one further lifetime so that late attempts are told the code expired",
                    human(org_code)
                ),
                retention_secs: Some(org_code),
                retention_values: values(&[("secs", org_code)]),
            },
            StoredItem {
                item: "organisations",
                key: "organisations",
                contents: "org id, public handle, name, the org's public signing key and the device id of its admin device",
                purpose: "letting citizens find a municipality by its handle and verify everything it signs",
                retention: "while the organisation exists".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "org profiles",
                key: "org-profiles",
                contents: "the latest public profile signed by the org key (name, report categories, office hours, channels)",
                purpose: "showing citizens how to reach the municipality; public by design",
                retention: "until replaced by a newer version".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "staff certificates",
                key: "staff-certificates",
                contents: "for each staff device: the org-signed invitation (role, department, expiry) and the device's binding (account id, device id, public identity key)",
                purpose: "letting citizens' apps verify that a device answering for the municipality is certified by it; public by design",
                retention: "while the organisation exists; revoked and expired certificates are no longer shown".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "staff invitations",
                key: "staff-invitations",
                contents: "the public part of a one-time staff invitation code and the org-signed invitation; never the code's secret",
                purpose: "enrolling a staff device once",
                retention: format!(
                    "until it expires (at most {} after it was issued), the record one further lifetime so that late attempts are told the code expired",
                    human(invite)
                ),
                retention_secs: Some(invite),
                retention_values: values(&[("secs", invite)]),
            },
            StoredItem {
                item: "revocation lists",
                key: "revocation-lists",
                contents: "the latest org-signed list of revoked staff device ids",
                purpose: "stopping delivery to lost or withdrawn staff devices at once, and letting apps refuse them",
                retention: "until replaced by a newer version".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "attachments",
                key: "attachments",
                contents: "opaque end-to-end encrypted files (photos) with their size, the uploading account (for the storage quota) and upload progress",
                purpose: "delivering photos and documents too large for a message",
                retention: format!(
                    "deleted {} after the upload finished; unfinished uploads after {}",
                    human(blob),
                    human(upload)
                ),
                retention_secs: Some(blob),
                retention_values: values(&[("secs", blob), ("upload_secs", upload)]),
            },
            StoredItem {
                item: "channels",
                key: "channels",
                contents: "for each broadcast channel: its random id, the publishing org, its metadata (name, description, reply policy) sealed with the channel key the server never sees, the key epoch and the retention the org chose",
                purpose: "letting followers with an invite link find and read a municipality's channel",
                retention: "while the channel exists".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "second-factor secrets",
                key: "second-factor-secrets",
                contents: "the TOTP secret of every server admin's device and of every organisation whose admin turned the second factor on, with the last code step used (so that a code works once)",
                purpose: "making admin and org-admin actions need the authenticator as well as the device",
                retention: "until the admin is removed (`stadtbote-server admin-reset`) or the org's second factor is reset or turned off".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "shredding keys",
                key: "shredding-keys",
                contents: "a random server pepper, which keys every stored account id, and one random key per account that seals the records naming it",
                purpose: "making a deleted account's records unreadable at once, also where the database still holds old copies of them",
                retention: "the pepper while the server exists; an account's key until the account is deleted".into(),
                retention_secs: None,
                retention_values: BTreeMap::new(),
            },
            StoredItem {
                item: "staged backups",
                key: "staged-backups",
                contents: "an online backup taken by a server admin (`stadtbote admin backup`): a copy of everything listed here, encrypted to the operator's age keys",
                purpose: "letting an admin download a consistent backup while the server keeps running",
                retention: format!(
                    "deleted after the download, at the latest after {}",
                    human(staging)
                ),
                retention_secs: Some(staging),
                retention_values: values(&[("secs", staging)]),
            },
            StoredItem {
                item: "backups",
                key: "backups",
                contents: "nightly encrypted archives of the whole data directory, made by the operator's backup timer; copies an admin downloaded are kept where the operator keeps them",
                purpose: "restoring the service after a failure or an attack",
                retention: format!(
                    "a deleted account stays in the archives made before its deletion until they are rotated out: at most {} ({} daily and {} weekly archives are kept)",
                    human(survival),
                    config.backup_keep_daily,
                    config.backup_keep_weekly
                ),
                retention_secs: Some(survival),
                retention_values: values(&[
                    ("secs", survival),
                    ("daily", u64::from(config.backup_keep_daily)),
                    ("weekly", u64::from(config.backup_keep_weekly)),
                ]),
            },
            StoredItem {
                item: "channel posts",
                key: "channel-posts",
                contents: "sealed posts (encrypted with the channel key, which the server never sees; the author is inside the seal), each with its sequence number and the time it was stored",
                purpose: "letting followers read posts they missed while offline",
                retention: format!(
                    "deleted after the channel's retention, which the org sets per channel, at most {channel_days} days ({})",
                    human(channel_secs)
                ),
                retention_secs: Some(channel_secs),
                retention_values: values(&[("days", u64::from(channel_days)), ("secs", channel_secs)]),
            },
        ]);
        // Issue 18: Web Push subscriptions.
        let push_ttl = config.push_subscription_ttl();
        stored.push(StoredItem {
            item: "push subscriptions",
            key: "push-subscriptions",
            contents: "for each device that turned notifications on: the push service address its browser gave (it names one browser at one push service), the browser's public key and authentication secret, when it was registered and last used, sealed with the account's key",
            purpose: "waking the app with a content-free notification when a message, report reply or status change arrives while it is closed (never for channel posts)",
            retention: format!(
                "until notifications are turned off, the push service says the subscription is gone, the device or account is deleted, or after {} without use",
                human(push_ttl)
            ),
            retention_secs: Some(push_ttl),
            retention_values: values(&[("secs", push_ttl)]),
        });
        let never_stored = vec![
            NeverStored {
                item: "IP addresses",
                key: "ip-addresses",
                explanation: "never written to disk or logs; held in memory only while a connection lasts, for rate limits and per-address connection caps (behind a trusted proxy: the address it forwards)",
            },
            NeverStored {
                item: "display names",
                key: "display-names",
                explanation: "exchanged end-to-end encrypted between devices; never visible to the server",
            },
            NeverStored {
                item: "message content",
                key: "message-content",
                explanation: "messages, photos and attachments are end-to-end encrypted; the server cannot read them",
            },
            NeverStored {
                item: "phone numbers, e-mail addresses and address books",
                key: "phone-numbers",
                explanation: "accounts do not need them and the server never asks for them",
            },
            NeverStored {
                item: "senders of stored messages",
                key: "senders",
                explanation: "stored envelopes carry no sender field",
            },
            NeverStored {
                item: "channel subscriber and follower lists",
                key: "follower-lists",
                explanation: "reading a channel needs no account; which connection listens to which channel is held in memory only while it is connected, never written to disk or logs",
            },
            NeverStored {
                item: "read receipts",
                key: "read-receipts",
                explanation: "the server is not told whether or when anyone read a post",
            },
            NeverStored {
                item: "per-reader analytics",
                key: "analytics",
                explanation: "no reach, view or reader statistics per channel or post; at most overall counts of channels, posts and connected listeners",
            },
        ];
        let configured = |value: &str| {
            let value = value.trim();
            (!value.is_empty()).then(|| value.to_owned())
        };
        Self {
            operator: Operator {
                name: configured(&config.operator_name),
                contact: configured(&config.operator_contact),
            },
            public_url: configured(config.public_url()),
            map_tiles_url: config.map_tiles_url().map(str::to_owned),
            accessibility_contact: configured(&config.accessibility_contact),
            accessibility_enforcement: configured(&config.accessibility_enforcement),
            limits: Limits {
                max_attachment_bytes: config.max_blob_bytes,
                attachment_quota_bytes: config.blob_quota_bytes,
            },
            source_code: config.source_url.trim().to_owned(),
            stored,
            never_stored,
            retention: Retention {
                envelope_ttl_secs: envelope,
                link_code_ttl_secs: link,
                blob_ttl_secs: blob,
                upload_ttl_secs: upload,
                max_channel_retention_days: channel_days,
            },
            retention_periods: {
                let mut periods = crate::relay::Retention::from_config(config).periods();
                periods.extend(fixed_periods(config));
                periods
            },
            fixed_periods: fixed_periods(config),
        }
    }

    /// The configured retention of a stored item, as recorded in the statement.
    fn item_secs(&self, name: &str) -> u64 {
        self.stored
            .iter()
            .find(|item| item.item == name)
            .and_then(|item| item.retention_secs)
            .unwrap_or(0)
    }

    /// The statement with the periods in force right now (configuration
    /// plus admin overrides): the stored items and the summary follow them.
    pub fn with_periods(&self, periods: Vec<RetentionPeriod>) -> Self {
        let mut statement = self.clone();
        let find = |kind: &str| periods.iter().find(|p| p.kind == kind).map(|p| p.secs);
        // (stored item, its retention value, retention kind, value the text
        // was written with)
        let replacements = [
            ("envelopes", "secs", "envelopes", statement.retention.envelope_ttl_secs),
            ("link codes", "secs", "link-codes", statement.retention.link_code_ttl_secs),
            ("link slots", "secs", "link-codes", statement.retention.link_code_ttl_secs),
            ("attachments", "secs", "attachments", statement.retention.blob_ttl_secs),
            ("attachments", "upload_secs", "uploads", statement.retention.upload_ttl_secs),
            (
                "admin and org claim codes",
                "secs",
                "org-claim-codes",
                self.item_secs("admin and org claim codes"),
            ),
            ("audit log", "secs", "audit", self.item_secs("audit log")),
        ];
        for item in &mut statement.stored {
            for (name, value, kind, old) in replacements {
                if item.item != name {
                    continue;
                }
                let Some(new) = find(kind) else { continue };
                if new == old {
                    continue;
                }
                item.retention = item.retention.replace(&human(old), &human(new));
                if item.retention_secs == Some(old) {
                    item.retention_secs = Some(new);
                }
                item.retention_values.insert(value, new);
            }
        }
        if let Some(secs) = find("envelopes") {
            statement.retention.envelope_ttl_secs = secs;
        }
        if let Some(secs) = find("link-codes") {
            statement.retention.link_code_ttl_secs = secs;
        }
        if let Some(secs) = find("attachments") {
            statement.retention.blob_ttl_secs = secs;
        }
        if let Some(secs) = find("uploads") {
            statement.retention.upload_ttl_secs = secs;
        }
        if let Some(secs) = find("channel-posts-max") {
            statement.retention.max_channel_retention_days =
                u32::try_from(secs / 86_400).unwrap_or(u32::MAX);
        }
        statement.retention_periods = periods;
        statement.retention_periods.extend(self.fixed_periods.iter().cloned());
        statement
    }

    /// The statement as JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain strings and numbers cannot fail; should it ever,
        // an empty object is still valid JSON.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The statement as plain text.
    pub fn to_text(&self) -> String {
        let mut out = String::from(
            "Stadtbote server: what this server stores\n\
             =========================================\n\n\
             Messages are end-to-end encrypted (MLS). The server relays ciphertext it cannot read.\n\n",
        );
        const NOT_CONFIGURED: &str = "not configured by the operator";
        out.push_str(&format!(
            "Operator:     {}\nContact:      {}\nSource code:  {}\n\n",
            self.operator.name.as_deref().unwrap_or(NOT_CONFIGURED),
            self.operator.contact.as_deref().unwrap_or(NOT_CONFIGURED),
            if self.source_code.is_empty() { NOT_CONFIGURED } else { &self.source_code },
        ));
        for item in &self.stored {
            out.push_str(&format!(
                "{}\n  stored:    {}\n  why:       {}\n  how long:  {}\n\n",
                item.item, item.contents, item.purpose, item.retention
            ));
        }
        out.push_str("Never stored\n");
        for item in &self.never_stored {
            out.push_str(&format!("  {}: {}\n", item.item, item.explanation));
        }
        out.push_str(&format!(
            "\nRetention in force: envelope_ttl_secs = {}, link_code_ttl_secs = {}, blob_ttl_secs = {}, upload_ttl_secs = {}, max_channel_retention_days = {}\n",
            self.retention.envelope_ttl_secs,
            self.retention.link_code_ttl_secs,
            self.retention.blob_ttl_secs,
            self.retention.upload_ttl_secs,
            self.retention.max_channel_retention_days
        ));
        out.push_str("\nRetention periods in force\n");
        for period in &self.retention_periods {
            out.push_str(&format!(
                "  {}: {} ({}; set by {})\n",
                period.kind,
                human(period.secs),
                period.what,
                period.source
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_uses_configured_values() {
        let config =
            Config { envelope_ttl_secs: 1234, link_code_ttl_secs: 60, ..Config::default() };
        let statement = PrivacyStatement::from_config(&config);
        let json: serde_json::Value = serde_json::from_str(&statement.to_json()).unwrap();
        assert_eq!(json["retention"]["envelope_ttl_secs"], 1234);
        assert_eq!(json["retention"]["link_code_ttl_secs"], 60);
        assert_eq!(json["retention"]["blob_ttl_secs"], 2_592_000);
        assert_eq!(json["retention"]["upload_ttl_secs"], 86_400);
        assert_eq!(json["retention"]["max_channel_retention_days"], 365);
        let never: Vec<&str> = json["never_stored"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["item"].as_str())
            .collect();
        for item in
            ["channel subscriber and follower lists", "read receipts", "per-reader analytics"]
        {
            assert!(never.contains(&item), "{item} missing from {never:?}");
        }
        let items: Vec<&str> =
            json["stored"].as_array().unwrap().iter().filter_map(|i| i["item"].as_str()).collect();
        for item in [
            "organisations",
            "staff certificates",
            "attachments",
            "group expiry",
            "group join info",
            "channels",
            "channel posts",
        ] {
            assert!(items.contains(&item), "{item} missing from {items:?}");
        }
        let envelopes =
            json["stored"].as_array().unwrap().iter().find(|i| i["item"] == "envelopes").unwrap();
        assert_eq!(envelopes["retention_secs"], 1234);
        assert!(json["stored"][0]["retention_secs"].is_null());
        let text = statement.to_text();
        assert!(text.contains("1234 seconds") && text.contains("IP addresses"));
        assert!(
            text.contains("max_channel_retention_days = 365") && text.contains("read receipts")
        );
        assert!(PrivacyStatement::from_config(&Config::default()).to_text().contains("(30 days)"));
    }

    #[test]
    fn every_period_in_force_is_listed_including_backups() {
        let config = Config {
            max_invite_ttl_secs: 1000,
            backup_staging_ttl_secs: 77,
            backup_keep_daily: 3,
            backup_keep_weekly: 2,
            ..Config::default()
        };
        // 2 weekly archives outlast 3 daily ones: 14 days, plus the night.
        assert_eq!(config.backup_survival_days(), 15);
        assert_eq!(Config::default().backup_survival_days(), 57);
        let statement = PrivacyStatement::from_config(&config);
        let secs = |s: &PrivacyStatement, kind: &str| {
            s.retention_periods.iter().find(|p| p.kind == kind).map(|p| p.secs)
        };
        for s in [
            &statement,
            &statement.with_periods(crate::relay::Retention::from_config(&config).periods()),
        ] {
            assert_eq!(secs(s, "staff-invitations"), Some(2000));
            assert_eq!(secs(s, "staged-backups"), Some(77));
            assert_eq!(secs(s, "backups"), Some(15 * 86_400));
            assert_eq!(secs(s, "envelope-log-segments"), Some(3600 + 60));
            for kind in crate::relay::RetentionKind::ALL {
                assert!(secs(s, kind.name()).is_some(), "{}", kind.name());
            }
        }
        let items: Vec<&str> = statement.stored.iter().map(|i| i.item).collect();
        for item in [
            "second-factor secrets",
            "shredding keys",
            "staged backups",
            "backups",
            "staff invitations",
        ] {
            assert!(items.contains(&item), "{item} missing from {items:?}");
        }
        let text = statement.to_text();
        assert!(text.contains("1296000 seconds (15 days)"), "{text}");
        assert!(text.contains("backups: 1296000 seconds"), "{text}");
    }

    #[test]
    fn statement_names_operator_and_source() {
        let default = PrivacyStatement::from_config(&Config::default());
        let json: serde_json::Value = serde_json::from_str(&default.to_json()).unwrap();
        assert!(json["operator"]["name"].is_null() && json["operator"]["contact"].is_null());
        assert_eq!(json["source_code"], crate::config::DEFAULT_SOURCE_URL);
        assert!(!crate::config::DEFAULT_SOURCE_URL.is_empty());
        assert!(default.to_text().contains("Operator:     not configured"));
        let config = Config {
            operator_name: "Stadt Musterhausen".into(),
            operator_contact: "datenschutz@musterhausen.example".into(),
            source_url: "https://code.example/stadtbote".into(),
            ..Config::default()
        };
        let statement = PrivacyStatement::from_config(&config);
        let json: serde_json::Value = serde_json::from_str(&statement.to_json()).unwrap();
        assert_eq!(json["operator"]["name"], "Stadt Musterhausen");
        assert_eq!(json["operator"]["contact"], "datenschutz@musterhausen.example");
        assert_eq!(json["source_code"], "https://code.example/stadtbote");
        let text = statement.to_text();
        assert!(text.contains("Operator:     Stadt Musterhausen"), "{text}");
        assert!(text.contains("datenschutz@musterhausen.example"));
        assert!(text.contains("Source code:  https://code.example/stadtbote"));
    }

    #[test]
    fn statement_publishes_the_accessibility_contact_when_configured() {
        let default = PrivacyStatement::from_config(&Config::default());
        let json: serde_json::Value = serde_json::from_str(&default.to_json()).unwrap();
        assert!(json.get("accessibility_contact").is_none(), "{json}");
        assert!(json.get("accessibility_enforcement").is_none(), "{json}");
        let config = Config {
            accessibility_contact: " barrierefrei@musterhausen.example ".into(),
            accessibility_enforcement: "Landesdurchsetzungsstelle, https://land.example".into(),
            ..Config::default()
        };
        let json: serde_json::Value =
            serde_json::from_str(&PrivacyStatement::from_config(&config).to_json()).unwrap();
        assert_eq!(json["accessibility_contact"], "barrierefrei@musterhausen.example");
        assert_eq!(
            json["accessibility_enforcement"],
            "Landesdurchsetzungsstelle, https://land.example"
        );
    }

    /// The English catalog's retention texts, worded from each row's key
    /// and numbers as a client does, are the server's own English texts;
    /// every key and kind has its row in the catalog, keys are unique, and
    /// admin changes reach the numbers as well as the text.
    #[test]
    fn every_row_key_has_the_servers_english_text_in_the_catalog() {
        use stadtbote_i18n::{Arg, Catalog, Lang};
        let en = Catalog::get(Lang::En);
        let config = Config::default();
        let base = PrivacyStatement::from_config(&config);
        let retention = crate::relay::Retention::from_config(&config);
        let mut periods = retention.periods();
        for period in &mut periods {
            // As if an admin had changed every settable period.
            period.secs += 86_400;
            period.source = "admin".to_owned();
        }
        for statement in [base.clone(), base.with_periods(periods)] {
            let mut keys = std::collections::BTreeSet::new();
            for item in &statement.stored {
                assert!(keys.insert(item.key), "{} twice", item.key);
                assert_eq!(
                    en.value(&format!("privacy-item-{}", item.key)).as_deref(),
                    Some(item.item)
                );
                let args: Vec<(&str, Arg)> = item
                    .retention_values
                    .iter()
                    .map(|(name, value)| {
                        let arg = if name.ends_with("secs") {
                            Arg::Text(human(*value))
                        } else {
                            Arg::Number(i64::try_from(*value).unwrap())
                        };
                        (*name, arg)
                    })
                    .collect();
                let id = format!("privacy-retention-{}", item.key);
                assert_eq!(en.format_complete(&id, &args), Some(item.retention.clone()), "{id}");
            }
            for item in &statement.never_stored {
                assert!(keys.insert(item.key), "{} twice", item.key);
                assert_eq!(
                    en.value(&format!("privacy-never-{}", item.key)).as_deref(),
                    Some(item.item)
                );
            }
            for period in &statement.retention_periods {
                let id = format!("privacy-period-{}", period.kind);
                assert_eq!(en.value(&id).as_deref(), Some(period.what.as_str()), "{id}");
            }
        }
    }
}
