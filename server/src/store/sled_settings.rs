//! [`SettingsStore`] on sled: the `settings` tree holds
//! `retention/<kind>` → seconds (u64 big endian) and `factor/a/<device>` or
//! `factor/o/<org>` → version byte, last-step flag and u64, secret bytes.

use sled::{CompareAndSwapError, IVec, Transactional};
use stadtbote_protocol::OrgId;
use stadtbote_protocol::totp::Secret;

use super::StoreError;
use super::audit::AuditDraft;
use super::records;
use super::settings::{FactorOwner, FactorRecord, SettingsStore};
use super::sled_audit::append_in;
use super::sled_org::ADMIN_CLAIM_KEY;
use super::sled_store::{SledStore, abort, io, tx_decode, tx_error};

const RETENTION_PREFIX: &[u8] = b"retention/";
/// Compare-and-swap retries before giving up with `Contention`.
const CAS_ATTEMPTS: usize = 16;

/// Prefix of every server admin's factor key (see [`records::factor_key`]).
const ADMIN_FACTOR_PREFIX: &[u8] = b"factor/a/";

impl SettingsStore for SledStore {
    fn retention_overrides(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        for item in self.settings.scan_prefix(RETENTION_PREFIX) {
            let (key, value) = item.map_err(io)?;
            let kind = std::str::from_utf8(&key[RETENTION_PREFIX.len()..])
                .map_err(|_| StoreError::corrupt("settings"))?;
            let secs =
                <[u8; 8]>::try_from(value.as_ref()).map_err(|_| StoreError::corrupt("settings"))?;
            out.push((kind.to_owned(), u64::from_be_bytes(secs)));
        }
        Ok(out)
    }

    fn set_retention_override(&self, kind: &str, secs: u64) -> Result<(), StoreError> {
        let mut key = RETENTION_PREFIX.to_vec();
        key.extend_from_slice(kind.as_bytes());
        self.settings.insert(key, &secs.to_be_bytes()).map_err(io)?;
        Ok(())
    }

    fn factor(&self, owner: &FactorOwner) -> Result<Option<FactorRecord>, StoreError> {
        self.settings
            .get(records::factor_key(owner))
            .map_err(io)?
            .map(|b| records::decode_factor(&b))
            .transpose()
    }

    fn set_factor(&self, owner: &FactorOwner, secret: &Secret) -> Result<(), StoreError> {
        self.settings
            .insert(records::factor_key(owner), records::encode_factor(secret.as_bytes(), None))
            .map_err(io)?;
        Ok(())
    }

    fn remove_factor(&self, owner: &FactorOwner) -> Result<(), StoreError> {
        self.settings.remove(records::factor_key(owner)).map_err(io)?;
        Ok(())
    }

    fn use_factor_step(&self, owner: &FactorOwner, step: u64) -> Result<bool, StoreError> {
        let key = records::factor_key(owner);
        for _ in 0..CAS_ATTEMPTS {
            let Some(current) = self.settings.get(&key).map_err(io)? else {
                return Ok(false);
            };
            let record = records::decode_factor(&current)?;
            if record.last_step.is_some_and(|last| step <= last) {
                return Ok(false);
            }
            let updated = records::encode_factor(record.secret.as_bytes(), Some(step));
            match self.settings.compare_and_swap(&key, Some(current), Some(updated)).map_err(io)? {
                Ok(()) => return Ok(true),
                Err(CompareAndSwapError { .. }) => continue,
            }
        }
        Err(StoreError::contention())
    }

    fn reset_server_admins(
        &self,
        claim_hash: &[u8; 32],
        entry: &AuditDraft,
    ) -> Result<usize, StoreError> {
        // Sled transactions cannot scan, so the keys are collected first;
        // the caller holds the database alone, so none can appear between.
        // Every admin secret goes, not only those of current admins: a
        // crash during a claim can leave a secret without a role.
        let admins = self.admins.iter().keys().collect::<Result<Vec<IVec>, _>>().map_err(io)?;
        let secrets = self
            .settings
            .scan_prefix(ADMIN_FACTOR_PREFIX)
            .keys()
            .collect::<Result<Vec<IVec>, _>>()
            .map_err(io)?;
        (&self.admins, &self.settings, &self.admin_claim, &self.audit)
            .transaction(|(admins_tx, settings, admin_claim, audit)| {
                for key in &admins {
                    admins_tx.remove(key)?;
                }
                for key in &secrets {
                    settings.remove(key)?;
                }
                admin_claim.insert(ADMIN_CLAIM_KEY, records::encode_hash(claim_hash))?;
                append_in(audit, entry)?;
                Ok(())
            })
            .map_err(tx_error)?;
        Ok(admins.len())
    }

    fn set_org_suspended(&self, org: &OrgId, suspended: bool) -> Result<(), StoreError> {
        // The same lock as every other change of an org record, so that a
        // concurrent claim or publish cannot overwrite the flag.
        let _guard = self.org_writes.lock().unwrap_or_else(|e| e.into_inner());
        self.orgs
            .transaction(|orgs| {
                let Some(bytes) = orgs.get(org.as_bytes())? else {
                    return abort(StoreError::UnknownOrg);
                };
                let mut record = tx_decode(records::decode_org(&bytes))?;
                record.suspended = suspended;
                orgs.insert(org.as_bytes(), records::encode_org(&record))?;
                Ok(())
            })
            .map_err(tx_error)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn factors_are_single_use_and_retention_persists() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let owner = FactorOwner::Admin(stadtbote_protocol::DeviceId([7; 16]));
        assert!(store.factor(&owner).unwrap().is_none());
        store.set_factor(&owner, &Secret::from_bytes(&[1; 20])).unwrap();
        assert!(store.use_factor_step(&owner, 10).unwrap());
        assert!(!store.use_factor_step(&owner, 10).unwrap());
        assert!(!store.use_factor_step(&owner, 9).unwrap());
        assert!(store.use_factor_step(&owner, 11).unwrap());
        assert_eq!(store.factor(&owner).unwrap().unwrap().last_step, Some(11));
        store.set_retention_override("envelopes", 600).unwrap();
        assert_eq!(store.retention_overrides().unwrap(), vec![("envelopes".to_owned(), 600)]);
    }
}
