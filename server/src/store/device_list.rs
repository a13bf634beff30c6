//! Storage of what the server relays for the account-signed device lists
//! (issue 13): the newest signed list per account, and the link slots two
//! devices of one account pass linking data through. The server cannot read
//! or forge either in a way clients would accept; it only keeps them, orders
//! lists by version, and stops accepting devices a newer list drops.

use stadtbote_protocol::{AccountId, DeviceId};

use super::StoreError;

/// Device lists and link slots.
pub trait DeviceListStore {
    /// The account's newest signed device list (its CBOR encoding as
    /// published), if it published one.
    fn device_list(&self, account: &AccountId) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `new` as the account's list if the stored one is still
    /// `expected` (byte for byte; `None`: none stored). Returns `false`,
    /// changing nothing, when another publish got there first.
    fn replace_device_list(
        &self,
        account: &AccountId,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError>;

    /// Deletes devices of `account`: their records (so they can no longer
    /// log in), mailboxes, KeyPackages and staff enrolments. Their group
    /// memberships end with the other members' next commits, which remove
    /// them. Devices of other accounts are ignored.
    fn remove_devices(&self, account: &AccountId, devices: &[DeviceId]) -> Result<u32, StoreError>;

    /// Leaves `data` in link slot `slot` for devices of `account` until
    /// `expires_at_ms`. [`StoreError::InvalidCode`] if the slot is taken.
    fn put_link_slot(
        &self,
        slot: &[u8; 32],
        account: &AccountId,
        data: &[u8],
        expires_at_ms: u64,
    ) -> Result<(), StoreError>;

    /// Takes (returns and deletes) what was left in `slot` for `account`;
    /// `None` when the slot is empty, expired or another account's.
    fn take_link_slot(
        &self,
        slot: &[u8; 32],
        account: &AccountId,
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>, StoreError>;
}
