//! What belongs to one town: the rule, applied to the logical records.
//!
//! A town is an org. Its records are the org's own (`orgs`, `handles`,
//! `org_*`, `invites`, `org_codes`, `staff`, its channels and their posts,
//! its entries in `revoked`), its **groups** — every group that has one of
//! the org's staff devices (or its admin device) as a member, or whose
//! GroupInfo names the org: report and consultation threads, discussion
//! groups — and the envelopes queued for those groups.
//!
//! Accounts are not the town's: a citizen may use several towns on the
//! district's server, and a staff member's account is their own. An export
//! therefore *copies* the accounts that the town's groups and staff need to
//! go on (the account, all its devices and their KeyPackages, its signed
//! device list, its blobs and its shredding key), and `town remove` leaves
//! every account in the district's store. What is left out of an export:
//! the audit log (a hash chain of the whole server; it stays with the
//! district), server admins and their second factors, settings, pending
//! link codes and slots, push subscriptions and the VAPID key (the new
//! server has its own: clients subscribe again).
//!
//! A group that also has staff of another org among its members is copied
//! by the export but not removed from the district (it is that org's too).
//!
//! Selection needs every stored device id of the staff, which the store
//! keeps keyed with the pepper ([`Keyring::device`]); staff records hold
//! the raw ids. So [`Town::scan`] reads the source once to collect the
//! sets; the filters ([`Town::export_filter`], [`Town::removal_filter`])
//! then decide record by record in a second pass.

use std::collections::{HashMap, HashSet};
use std::io;

use stadtbote_protocol::{DeviceId, OrgId};

use crate::store::shred::Keyring;
use crate::store::{BackupStore, StoreError, TreeVisitor, records};

use super::TownError;

/// The sets that decide what belongs to the town, read from the source.
#[derive(Debug, Default)]
pub struct Town {
    /// The org.
    pub org: [u8; 16],
    /// Its handle.
    pub handle: String,
    /// Its channels.
    channels: HashSet<[u8; 16]>,
    /// Its groups (stored group ids).
    groups: HashSet<[u8; 16]>,
    /// Its groups that no other org's staff are in (removed with the town).
    own_groups: HashSet<[u8; 16]>,
    /// Envelopes of its groups, by sequence number, with their group.
    seqs: HashMap<u64, [u8; 16]>,
    /// Accounts (blinded ids) the export copies.
    pub accounts: HashSet<[u8; 32]>,
    /// Stored device ids of those accounts.
    devices: HashSet<[u8; 16]>,
    /// Blobs owned by those accounts.
    pub blobs: HashSet<[u8; 16]>,
}

/// Everything read in the scan, before the rule is applied.
#[derive(Default)]
struct Scan {
    current: Vec<u8>,
    org: Option<[u8; 16]>,
    handle: String,
    admin_device: Option<DeviceId>,
    /// Stored device ids of staff, per org.
    staff: Vec<([u8; 16], DeviceId)>,
    channels: Vec<([u8; 16], [u8; 16])>,
    groups: Vec<([u8; 16], Vec<DeviceId>)>,
    group_orgs: HashMap<[u8; 16], [u8; 16]>,
    message_groups: Vec<(u64, [u8; 16])>,
    device_owner: HashMap<[u8; 16], [u8; 32]>,
    account_devices: Vec<([u8; 32], [u8; 16])>,
    blob_owner: Vec<([u8; 16], [u8; 32])>,
    corrupt: Option<&'static str>,
}

fn id16(bytes: &[u8]) -> Option<[u8; 16]> {
    bytes.get(..16).and_then(|b| <[u8; 16]>::try_from(b).ok())
}

fn id16_at(bytes: &[u8], at: usize) -> Option<[u8; 16]> {
    bytes.get(at..at + 16).and_then(|b| <[u8; 16]>::try_from(b).ok())
}

fn id32(bytes: &[u8]) -> Option<[u8; 32]> {
    bytes.get(..32).and_then(|b| <[u8; 32]>::try_from(b).ok())
}

fn seq_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes.get(at..at + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes)
}

impl Scan {
    fn record(&mut self, key: &[u8], value: &[u8], wanted: &str) -> Result<(), StoreError> {
        let corrupt = || StoreError::corrupt("town scan");
        match self.current.as_slice() {
            b"handles" if key == wanted.as_bytes() => {
                self.org = Some(records::decode_id(value, "handles")?);
            }
            b"orgs" => {
                let record = records::decode_org(value)?;
                if record.handle == wanted {
                    self.handle = record.handle;
                    self.admin_device = record.admin_device;
                    self.org = Some(id16(key).ok_or_else(corrupt)?);
                }
            }
            b"staff" => {
                let org = id16(key).ok_or_else(corrupt)?;
                let device = id16_at(key, 16).ok_or_else(corrupt)?;
                self.staff.push((org, DeviceId(device)));
            }
            b"channels" => {
                let record = records::decode_channel(value)?;
                self.channels.push((id16(key).ok_or_else(corrupt)?, record.org.0));
            }
            b"groups" => {
                let record = records::decode_group(value)?;
                self.groups.push((id16(key).ok_or_else(corrupt)?, record.members));
            }
            b"group_info" => {
                if let Some(org) = records::decode_group_info(value)?.org {
                    self.group_orgs.insert(id16(key).ok_or_else(corrupt)?, org.0);
                }
            }
            b"message_group" => {
                let seq = seq_at(key, 0).ok_or_else(corrupt)?;
                self.message_groups.push((seq, records::decode_id(value, "message_group")?));
            }
            b"devices" => {
                let stored = records::decode_device(value)?;
                self.device_owner.insert(id16(key).ok_or_else(corrupt)?, stored.owner.blind.0);
            }
            b"account_devices" => {
                let blind = id32(key).ok_or_else(corrupt)?;
                let device = id16_at(key, 32).ok_or_else(corrupt)?;
                self.account_devices.push((blind, device));
            }
            b"blobs" => {
                let stored = records::decode_blob(value)?;
                self.blob_owner.push((id16(key).ok_or_else(corrupt)?, stored.owner.blind.0));
            }
            _ => {}
        }
        Ok(())
    }
}

struct ScanVisitor<'a> {
    scan: Scan,
    handle: &'a str,
}

impl TreeVisitor for ScanVisitor<'_> {
    fn tree(&mut self, name: &[u8]) -> io::Result<()> {
        self.scan.current = name.to_vec();
        Ok(())
    }

    fn entry(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        if let Err(e) = self.scan.record(key, value, self.handle) {
            self.scan.corrupt = Some("a record the town scan reads does not decode");
            return Err(io::Error::other(e.to_string()));
        }
        Ok(())
    }
}

impl Town {
    /// Reads `source` once and applies the rule (module docs) for the org
    /// with `handle`; `keyring` is the source's (to key staff device ids).
    pub fn scan(
        source: &dyn BackupStore,
        keyring: &Keyring,
        handle: &str,
    ) -> Result<Self, TownError> {
        let mut visitor = ScanVisitor { scan: Scan::default(), handle };
        let result = source.export_trees(&mut visitor);
        let scan = visitor.scan;
        if let Some(what) = scan.corrupt {
            return Err(StoreError::corrupt(what).into());
        }
        result?;
        let org = scan.org.ok_or_else(|| TownError::UnknownOrg(handle.to_owned()))?;
        let handle = if scan.handle.is_empty() { handle.to_owned() } else { scan.handle };

        // Staff devices (stored ids), of this org and of every other.
        let key = |d: &DeviceId| keyring.device(d).0;
        let mut ours: HashSet<[u8; 16]> = HashSet::new();
        let mut others: HashSet<[u8; 16]> = HashSet::new();
        for (staff_org, device) in &scan.staff {
            if *staff_org == org {
                ours.insert(key(device))
            } else {
                others.insert(key(device))
            };
        }
        if let Some(admin) = &scan.admin_device {
            ours.insert(key(admin));
        }
        // A device that is staff here and elsewhere counts as ours only.
        others.retain(|d| !ours.contains(d));

        let mut town = Town { org, handle, ..Town::default() };
        town.channels = scan.channels.iter().filter(|(_, o)| *o == org).map(|(c, _)| *c).collect();
        let mut members: HashSet<[u8; 16]> = ours.clone();
        for (group, group_members) in &scan.groups {
            let named = scan.group_orgs.get(group);
            let staffed = group_members.iter().any(|m| ours.contains(&m.0));
            if named == Some(&org) || staffed {
                town.groups.insert(*group);
                members.extend(group_members.iter().map(|m| m.0));
                let shared = group_members.iter().any(|m| others.contains(&m.0))
                    || named.is_some_and(|o| *o != org);
                if !shared {
                    town.own_groups.insert(*group);
                }
            }
        }
        town.seqs = scan
            .message_groups
            .iter()
            .filter(|(_, g)| town.groups.contains(g))
            .map(|(s, g)| (*s, *g))
            .collect();
        town.accounts = members.iter().filter_map(|d| scan.device_owner.get(d).copied()).collect();
        town.devices = scan
            .account_devices
            .iter()
            .filter(|(blind, _)| town.accounts.contains(blind))
            .map(|(_, d)| *d)
            .collect();
        town.blobs = scan
            .blob_owner
            .iter()
            .filter(|(_, owner)| town.accounts.contains(owner))
            .map(|(b, _)| *b)
            .collect();
        Ok(town)
    }

    /// How many groups the export copies, and how many of them the removal
    /// takes out of the district's store.
    pub fn group_counts(&self) -> (usize, usize) {
        (self.groups.len(), self.own_groups.len())
    }

    fn seq_in(&self, key: &[u8], at: usize) -> bool {
        seq_at(key, at).is_some_and(|s| self.seqs.contains_key(&s))
    }

    fn own_seq_in(&self, key: &[u8], at: usize) -> bool {
        seq_at(key, at).and_then(|s| self.seqs.get(&s)).is_some_and(|g| self.own_groups.contains(g))
    }

    /// Whether a record is the org's own (removed with the town); `None`
    /// for records of other kinds. `revoked` lists are handled apart.
    fn org_record(&self, collection: &[u8], key: &[u8], value: &[u8]) -> Option<bool> {
        let org = &self.org;
        let own = match collection {
            b"orgs" | b"org_profiles" | b"org_revocations" | b"org_rotations"
            | b"org_staff_lists" => key == org,
            b"handles" => value.get(1..17) == Some(org.as_slice()) || key == self.handle.as_bytes(),
            b"staff" => key.get(..16) == Some(org.as_slice()),
            b"invites" => records::decode_invite(value).is_ok_and(|i| i.org.0 == *org),
            b"org_codes" => records::decode_org_code(value).is_ok_and(|c| c.org.0 == *org),
            b"channels" => id16(key).is_some_and(|c| self.channels.contains(&c)),
            b"channel_posts" => id16(key).is_some_and(|c| self.channels.contains(&c)),
            b"channel_post_expiry" => id16_at(key, 8).is_some_and(|c| self.channels.contains(&c)),
            _ => return None,
        };
        Some(own)
    }

    /// The filter of `town export`: the town's records and the accounts it
    /// needs (module docs).
    pub fn export_filter(&self) -> impl crate::migrate::RecordFilter + '_ {
        ExportFilter(self)
    }

    /// The filter that rebuilds the district's store without the town.
    pub fn removal_filter(&self) -> impl crate::migrate::RecordFilter + '_ {
        RemovalFilter(self)
    }

    /// Whether a state file goes with the export: the pepper, the keys of
    /// the copied accounts, the copied accounts' blobs.
    pub fn exports_file(&self, rel: &str) -> bool {
        if rel == "keys/pepper" {
            return true;
        }
        if let Some(rest) = rel.strip_prefix("keys/") {
            let name = rest.rsplit('/').next().unwrap_or_default();
            return data_encoding::HEXLOWER
                .decode(name.as_bytes())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .is_some_and(|blind| self.accounts.contains(&blind));
        }
        if let Some(name) = rel.strip_prefix(&format!("{}/", crate::blobs::BLOB_DIR)) {
            return data_encoding::HEXLOWER
                .decode(name.as_bytes())
                .ok()
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .is_some_and(|blob| self.blobs.contains(&blob));
        }
        false
    }

    /// The org id, for messages.
    pub fn org_id(&self) -> OrgId {
        OrgId(self.org)
    }
}

struct ExportFilter<'a>(&'a Town);

impl crate::migrate::RecordFilter for ExportFilter<'_> {
    fn keep(&mut self, collection: &[u8], key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
        let t = self.0;
        if let Some(own) = t.org_record(collection, key, value) {
            return own.then(|| value.to_vec());
        }
        let account = |k: &[u8]| id32(k).is_some_and(|b| t.accounts.contains(&b));
        let device = |k: &[u8]| id16(k).is_some_and(|d| t.devices.contains(&d));
        let group = |k: &[u8]| id16(k).is_some_and(|g| t.groups.contains(&g));
        let keep = match collection {
            b"meta" => true,
            b"revoked" => {
                // Only this org's revocation, not which other towns revoked it.
                let orgs = records::decode_orgs(value).ok()?;
                return orgs.contains(&t.org_id()).then(|| records::encode_orgs(&[t.org_id()]));
            }
            b"accounts" | b"account_devices" | b"device_lists" | b"blob_usage" => account(key),
            b"devices" | b"keypackages" | b"kp_count" | b"last_resort" => device(key),
            b"blobs" => id16(key).is_some_and(|b| t.blobs.contains(&b)),
            b"blob_expiry" => id16_at(key, 8).is_some_and(|b| t.blobs.contains(&b)),
            b"groups" | b"group_info" | b"group_expiry" | b"group_ids" => group(key),
            b"group_expiry_index" => id16_at(key, 8).is_some_and(|g| t.groups.contains(&g)),
            b"messages" | b"refs" | b"message_group" => t.seq_in(key, 0),
            b"recipients" => t.seq_in(key, 0),
            b"mailbox" | b"group_messages" => t.seq_in(key, 16),
            b"expiry" => t.seq_in(key, 8),
            // The district's: audit chain, admins, settings, link codes
            // and slots, push (module docs).
            _ => false,
        };
        keep.then(|| value.to_vec())
    }
}

struct RemovalFilter<'a>(&'a Town);

impl crate::migrate::RecordFilter for RemovalFilter<'_> {
    fn keep(&mut self, collection: &[u8], key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
        let t = self.0;
        if let Some(own) = t.org_record(collection, key, value) {
            return (!own).then(|| value.to_vec());
        }
        let own_group = |k: &[u8]| id16(k).is_some_and(|g| t.own_groups.contains(&g));
        let removed = match collection {
            b"revoked" => {
                let Ok(mut orgs) = records::decode_orgs(value) else { return Some(value.to_vec()) };
                let before = orgs.len();
                orgs.retain(|o| o.0 != t.org);
                if orgs.len() == before {
                    return Some(value.to_vec());
                }
                return (!orgs.is_empty()).then(|| records::encode_orgs(&orgs));
            }
            b"groups" | b"group_info" | b"group_expiry" | b"group_ids" => own_group(key),
            b"group_expiry_index" => id16_at(key, 8).is_some_and(|g| t.own_groups.contains(&g)),
            b"messages" | b"refs" | b"message_group" | b"recipients" => t.own_seq_in(key, 0),
            b"mailbox" | b"group_messages" => t.own_seq_in(key, 16),
            b"expiry" => t.own_seq_in(key, 8),
            _ => false,
        };
        (!removed).then(|| value.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::RecordFilter;
    use crate::store::records::{GroupRecord, Owner, StoredDevice};
    use crate::store::shred::{Blind, SEALED_ID_LEN};
    use stadtbote_protocol::auth::IdentityKey;

    type Collection = (&'static str, Vec<(Vec<u8>, Vec<u8>)>);

    /// A store that exports fixed collections.
    struct Fixed(Vec<Collection>);

    impl BackupStore for Fixed {
        fn export_trees(&self, visitor: &mut dyn TreeVisitor) -> Result<(), StoreError> {
            for (name, records) in &self.0 {
                visitor.tree(name.as_bytes()).map_err(StoreError::unavailable)?;
                for (k, v) in records {
                    visitor.entry(k, v).map_err(StoreError::unavailable)?;
                }
            }
            Ok(())
        }
    }

    const A: [u8; 16] = [0xa; 16];
    const B: [u8; 16] = [0xb; 16];

    fn device(owner: u8) -> Vec<u8> {
        records::encode_device(&StoredDevice {
            owner: Owner { blind: Blind([owner; 32]), sealed: [0; SEALED_ID_LEN] },
            identity_key: IdentityKey([owner; 32]),
            created_at: 1,
            blocked: false,
        })
    }

    /// Staff `sa` of town A, `sb` of town B, citizen `c`, stranger `x`;
    /// groups: 1 = {sa, c}, 2 = {sa, sb, c}, 3 = {sb, c}, 4 = {c, x};
    /// one envelope per group (seq = group number).
    fn district(keyring: &Keyring) -> Fixed {
        let raw = |b: u8| DeviceId([b; 16]);
        let (sa, sb, c, x) = (raw(1), raw(2), raw(3), raw(4));
        let k = |d: &DeviceId| keyring.device(d);
        let group = |n: u8| [0x60 + n; 16];
        let members: [(u8, Vec<DeviceId>); 4] = [
            (1, vec![k(&sa), k(&c)]),
            (2, vec![k(&sa), k(&sb), k(&c)]),
            (3, vec![k(&sb), k(&c)]),
            (4, vec![k(&c), k(&x)]),
        ];
        let mut groups = Vec::new();
        let mut message_group = Vec::new();
        let mut mailbox = Vec::new();
        for (n, m) in members {
            let mut m = m;
            m.sort();
            let record = GroupRecord { epoch: 1, members: m.clone() };
            groups.push((group(n).to_vec(), records::encode_group(&record)));
            message_group.push(((n as u64).to_be_bytes().to_vec(), records::encode_id(&group(n))));
            for d in m {
                mailbox.push((records::id_seq_key(d.as_bytes(), n as u64).to_vec(), Vec::new()));
            }
        }
        let devices = [(sa, 0xa1), (sb, 0xb1), (c, 0xc1), (x, 0xd1)]
            .iter()
            .map(|(d, owner)| (k(d).as_bytes().to_vec(), device(*owner)))
            .collect();
        Fixed(vec![
            ("devices", devices),
            ("groups", groups),
            (
                "handles",
                vec![
                    (b"a".to_vec(), records::encode_id(&A)),
                    (b"b".to_vec(), records::encode_id(&B)),
                ],
            ),
            ("mailbox", mailbox),
            ("message_group", message_group),
            ("revoked", vec![(vec![9; 16], records::encode_orgs(&[OrgId(A), OrgId(B)]))]),
            (
                "staff",
                vec![
                    (records::pair_key(&A, sa.as_bytes()).to_vec(), Vec::new()),
                    (records::pair_key(&B, sb.as_bytes()).to_vec(), Vec::new()),
                ],
            ),
        ])
    }

    fn kept(store: &Fixed, filter: &mut dyn RecordFilter) -> Vec<(&'static str, Vec<u8>)> {
        let mut out = Vec::new();
        for (name, records) in &store.0 {
            for (k, v) in records {
                if filter.keep(name.as_bytes(), k, v).is_some() {
                    out.push((*name, k.clone()));
                }
            }
        }
        out
    }

    fn groups_in(kept: &[(&str, Vec<u8>)]) -> Vec<u8> {
        kept.iter().filter(|(n, _)| *n == "groups").map(|(_, k)| k[0] - 0x60).collect()
    }

    fn seqs_in(kept: &[(&str, Vec<u8>)]) -> Vec<u64> {
        kept.iter()
            .filter(|(n, _)| *n == "message_group")
            .map(|(_, k)| u64::from_be_bytes(k[..8].try_into().unwrap()))
            .collect()
    }

    #[test]
    fn a_town_is_its_staffs_groups_and_removal_keeps_shared_ones_and_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::open(dir.path(), true).unwrap();
        let store = district(&keyring);
        let town = Town::scan(&store, &keyring, "a").unwrap();
        assert_eq!(town.org, A);
        assert_eq!(town.group_counts(), (2, 1));
        // Accounts of sa and c (in A's groups) and sb (in the shared group).
        let mut owners: Vec<u8> = town.accounts.iter().map(|b| b[0]).collect();
        owners.sort_unstable();
        assert_eq!(owners, [0xa1, 0xb1, 0xc1]);

        let exported = kept(&store, &mut town.export_filter());
        assert_eq!(groups_in(&exported), [1, 2]);
        assert_eq!(seqs_in(&exported), [1, 2]);
        assert!(!exported.iter().any(|(n, k)| *n == "handles" && k == b"b"), "not town B");
        assert!(!exported.iter().any(|(n, k)| *n == "staff" && k[..16] == B), "not B's staff");
        // Only A's own revocation travels.
        let mut f = town.export_filter();
        let revoked = f.keep(b"revoked", &[9; 16], &records::encode_orgs(&[OrgId(A), OrgId(B)]));
        assert_eq!(revoked, Some(records::encode_orgs(&[OrgId(A)])));

        let remaining = kept(&store, &mut town.removal_filter());
        assert_eq!(groups_in(&remaining), [2, 3, 4], "the shared group stays");
        assert_eq!(seqs_in(&remaining), [2, 3, 4]);
        assert_eq!(remaining.iter().filter(|(n, _)| *n == "devices").count(), 4, "accounts stay");
        assert!(!remaining.iter().any(|(n, k)| *n == "handles" && k == b"a"));
        assert!(!remaining.iter().any(|(n, k)| *n == "staff" && k[..16] == A));
        let mut f = town.removal_filter();
        let revoked = f.keep(b"revoked", &[9; 16], &records::encode_orgs(&[OrgId(A), OrgId(B)]));
        assert_eq!(revoked, Some(records::encode_orgs(&[OrgId(B)])));
        assert_eq!(f.keep(b"revoked", &[9; 16], &records::encode_orgs(&[OrgId(A)])), None);

        assert!(matches!(Town::scan(&store, &keyring, "nobody"), Err(TownError::UnknownOrg(_))));
        assert!(town.exports_file("keys/pepper"));
        let blind_hex = data_encoding::HEXLOWER.encode(&[0xc1; 32]);
        assert!(town.exports_file(&format!("keys/{}/{blind_hex}", &blind_hex[..2])));
        let stranger = data_encoding::HEXLOWER.encode(&[0xd1; 32]);
        assert!(!town.exports_file(&format!("keys/{}/{stranger}", &stranger[..2])));
    }
}
