//! The retention periods in force: the configured values, overridden at
//! run time by server admins (`admin retention set`). Overrides are stored
//! in the settings tree and mirrored here in memory, so that every new
//! envelope, attachment, code and channel reads the current value without a
//! database lookup, and `/privacy` shows exactly what is enforced.

use std::collections::HashMap;
use std::sync::RwLock;

use stadtbote_protocol::RefusalReason;
use stadtbote_protocol::frame::{Response, RetentionPeriod};

use super::{Relay, RelayError};
use crate::config::{Config, MAX_TTL_SECS};
use crate::store::Store;

const DAY_SECS: u64 = 86_400;
/// The shortest period an admin may set: shorter ones would delete data
/// before its recipients could reasonably fetch it.
pub const MIN_RETENTION_SECS: u64 = 60;

/// A kind of data with a retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetentionKind {
    /// Undelivered envelopes (`envelope_ttl_secs`).
    Envelopes,
    /// Completed attachments (`blob_ttl_secs`).
    Attachments,
    /// Unfinished uploads (`upload_ttl_secs`).
    Uploads,
    /// Device link codes (`link_code_ttl_secs`).
    LinkCodes,
    /// One-time org-admin codes (`org_claim_code_ttl_secs`).
    OrgClaimCodes,
    /// The longest retention a channel may choose (`max_channel_retention_days`).
    ChannelPostsMax,
    /// Audit log entries (`audit_retention_days`).
    Audit,
}

impl RetentionKind {
    /// Every kind, in the order shown.
    pub const ALL: [Self; 7] = [
        Self::Envelopes,
        Self::Attachments,
        Self::Uploads,
        Self::LinkCodes,
        Self::OrgClaimCodes,
        Self::ChannelPostsMax,
        Self::Audit,
    ];

    /// The stable name used on the wire and in the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Self::Envelopes => "envelopes",
            Self::Attachments => "attachments",
            Self::Uploads => "uploads",
            Self::LinkCodes => "link-codes",
            Self::OrgClaimCodes => "org-claim-codes",
            Self::ChannelPostsMax => "channel-posts-max",
            Self::Audit => "audit",
        }
    }

    /// What is kept this long.
    pub fn what(self) -> &'static str {
        match self {
            Self::Envelopes => "encrypted messages waiting for delivery",
            Self::Attachments => "encrypted attachments after upload",
            Self::Uploads => "unfinished attachment uploads",
            Self::LinkCodes => "codes for linking a new device",
            Self::OrgClaimCodes => "one-time codes for claiming an org",
            Self::ChannelPostsMax => "broadcast channel posts (longest a channel may choose)",
            Self::Audit => "audit log of admin actions (pseudonymised)",
        }
    }

    /// Parses a stable name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Kinds counted in whole days.
    fn in_days(self) -> bool {
        matches!(self, Self::ChannelPostsMax | Self::Audit)
    }

    fn configured(self, config: &Config) -> u64 {
        match self {
            Self::Envelopes => config.envelope_ttl_secs,
            Self::Attachments => config.blob_ttl_secs,
            Self::Uploads => config.upload_ttl_secs,
            Self::LinkCodes => config.link_code_ttl_secs,
            Self::OrgClaimCodes => config.org_claim_code_ttl_secs,
            Self::ChannelPostsMax => {
                u64::from(config.max_channel_retention_days).saturating_mul(DAY_SECS)
            }
            Self::Audit => u64::from(config.audit_retention_days).saturating_mul(DAY_SECS),
        }
    }

    /// Checks an admin's new value.
    pub fn check(self, secs: u64) -> Result<(), RelayError> {
        if !(MIN_RETENTION_SECS..=MAX_TTL_SECS).contains(&secs) {
            return Err(RelayError::Refused(RefusalReason::RetentionOutOfRange));
        }
        if self.in_days() && !secs.is_multiple_of(DAY_SECS) {
            return Err(RelayError::Refused(RefusalReason::RetentionWholeDays));
        }
        Ok(())
    }
}

/// The periods in force.
pub struct Retention {
    configured: HashMap<RetentionKind, u64>,
    overrides: RwLock<HashMap<RetentionKind, u64>>,
}

impl Retention {
    /// The configured periods, without overrides yet.
    pub fn from_config(config: &Config) -> Self {
        let configured =
            RetentionKind::ALL.into_iter().map(|k| (k, k.configured(config))).collect();
        Self { configured, overrides: RwLock::new(HashMap::new()) }
    }

    /// Loads the stored overrides. Unknown kinds (from a newer release) are
    /// ignored; a value outside the bounds is ignored too, so a damaged
    /// setting falls back to the configuration instead of deleting data.
    pub fn load(&self, store: &dyn Store) {
        let stored = match store.retention_overrides() {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(error = %e, "could not read retention overrides; using the configuration");
                return;
            }
        };
        // The stored overrides replace the ones in memory: in a cluster
        // another node may have changed or reset one (`crate::cluster`;
        // the sweeper reloads them there).
        let mut loaded = HashMap::new();
        for (name, secs) in stored {
            if let Some(kind) = RetentionKind::parse(&name)
                && kind.check(secs).is_ok()
            {
                loaded.insert(kind, secs);
            }
        }
        *self.overrides.write().unwrap_or_else(|e| e.into_inner()) = loaded;
    }

    /// The period in force for `kind`, in seconds.
    pub fn secs(&self, kind: RetentionKind) -> u64 {
        let overrides = self.overrides.read().unwrap_or_else(|e| e.into_inner());
        overrides
            .get(&kind)
            .or_else(|| self.configured.get(&kind))
            .copied()
            .unwrap_or(MIN_RETENTION_SECS)
    }

    /// The period in force for `kind`, in milliseconds.
    pub fn ms(&self, kind: RetentionKind) -> u64 {
        self.secs(kind).saturating_mul(1000)
    }

    /// The period in force for `kind`, in whole days.
    pub fn days(&self, kind: RetentionKind) -> u32 {
        u32::try_from(self.secs(kind) / DAY_SECS).unwrap_or(u32::MAX)
    }

    fn set(&self, kind: RetentionKind, secs: u64) {
        self.overrides.write().unwrap_or_else(|e| e.into_inner()).insert(kind, secs);
    }

    /// Every period in force, for `admin retention show` and `/privacy`.
    pub fn periods(&self) -> Vec<RetentionPeriod> {
        let overrides = self.overrides.read().unwrap_or_else(|e| e.into_inner());
        RetentionKind::ALL
            .into_iter()
            .map(|kind| {
                let (secs, source) = match overrides.get(&kind) {
                    Some(secs) => (*secs, "admin"),
                    None => (self.configured.get(&kind).copied().unwrap_or(0), "config"),
                };
                RetentionPeriod {
                    kind: kind.name().to_owned(),
                    what: kind.what().to_owned(),
                    secs,
                    source: source.to_owned(),
                }
            })
            .collect()
    }
}

impl Relay {
    /// The retention periods in force.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// `admin retention set`: stores the override durably, then applies it.
    pub(super) async fn retention_set(
        &self,
        name: &str,
        secs: u64,
    ) -> Result<Response, RelayError> {
        let kind = RetentionKind::parse(name)
            .ok_or(RelayError::Refused(RefusalReason::RetentionUnknownKind))?;
        kind.check(secs)?;
        self.store.set_retention_override(kind.name(), secs)?;
        self.durable().await?;
        self.retention.set(kind, secs);
        tracing::info!(kind = kind.name(), secs, "retention period changed by a server admin");
        Ok(Response::Retention { periods: self.retention.periods() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_bounds() {
        for kind in RetentionKind::ALL {
            assert_eq!(RetentionKind::parse(kind.name()), Some(kind));
        }
        assert!(RetentionKind::Envelopes.check(0).is_err());
        assert!(RetentionKind::Envelopes.check(MAX_TTL_SECS + 1).is_err());
        assert!(RetentionKind::Envelopes.check(3600).is_ok());
        assert!(RetentionKind::Audit.check(3600).is_err());
        assert!(RetentionKind::Audit.check(DAY_SECS * 30).is_ok());
        let retention = Retention::from_config(&Config::default());
        assert_eq!(retention.periods().len(), RetentionKind::ALL.len());
        retention.set(RetentionKind::Envelopes, 120);
        assert_eq!(retention.ms(RetentionKind::Envelopes), 120_000);
    }
}
