//! The account-signed device lists (issue 13): serving the newest list with
//! the device directory, storing a newer one, and the link slots linking
//! devices pass their request and sealed approval through.
//!
//! The server checks what it can without trusting itself: a list must name
//! the caller's account, verify under the account key it names, keep the
//! key of the stored list and raise its version. Devices the previous list
//! had and the new one drops are deleted (a lost phone can no longer log
//! in). Clients do not rely on any of this: they verify the list against
//! the account key they pinned.

use stadtbote_protocol::auth::Signature;
use stadtbote_protocol::device_list::{LINK_SLOT_LEN, SignedDeviceList};
use stadtbote_protocol::frame::Response;
use stadtbote_protocol::{AccountId, DeviceId, RefusalReason};

use super::retention::RetentionKind;
use super::{Identity, Relay, RelayError};
use crate::store::StoreError;
use crate::unix_ms;

/// Stored form: the 64-byte signature, then the list's bytes.
fn encode_stored(list: &SignedDeviceList) -> Vec<u8> {
    [list.signature.0.as_slice(), list.bytes.as_slice()].concat()
}

fn decode_stored(bytes: &[u8]) -> Result<SignedDeviceList, RelayError> {
    let (signature, list) = bytes.split_at_checked(64).ok_or(RelayError::Internal)?;
    let signature: [u8; 64] = signature.try_into().map_err(|_| RelayError::Internal)?;
    Ok(SignedDeviceList {
        bytes: serde_bytes::ByteBuf::from(list.to_vec()),
        signature: Signature(signature),
    })
}

fn slot_id(slot: &[u8]) -> Result<[u8; LINK_SLOT_LEN], RelayError> {
    slot.try_into().map_err(|_| RelayError::InvalidRequest("a link slot id is 32 bytes"))
}

impl Relay {
    /// The account's devices as the server knows them, with the newest
    /// signed list (clients use only devices that are on it).
    pub(super) fn list_devices(&self, account: &AccountId) -> Result<Response, RelayError> {
        let devices = self.store.list_devices(account)?;
        let device_list = match self.store.device_list(account)? {
            Some(bytes) => Some(decode_stored(&bytes)?),
            None => None,
        };
        Ok(Response::Devices { devices, device_list })
    }

    /// Stores a newer signed list of the caller's account and deletes the
    /// devices it drops.
    pub(super) async fn publish_device_list(
        &self,
        me: &Identity,
        signed: &SignedDeviceList,
    ) -> Result<Response, RelayError> {
        if signed.bytes.len() > self.limits.max_payload_bytes {
            return Err(RelayError::TooLarge("device list exceeds the message limit"));
        }
        let list = signed
            .verify(&me.account, None)
            .map_err(|_| RelayError::InvalidRequest("not a device list of this account"))?;
        if !list.devices.iter().any(|d| d.device == me.device) {
            return Err(RelayError::InvalidRequest("the publishing device must be on the list"));
        }
        let new = encode_stored(signed);
        // A concurrent publish may win; the loser re-reads once or twice.
        for _ in 0..3 {
            let stored = self.store.device_list(&me.account)?;
            let mut dropped: Vec<DeviceId> = Vec::new();
            if let Some(bytes) = &stored {
                let old =
                    decode_stored(bytes)?.decode_unverified().map_err(|_| RelayError::Internal)?;
                if old.account_key != list.account_key {
                    return Err(RelayError::Refused(RefusalReason::DeviceListOtherKey));
                }
                if list.version <= old.version {
                    return Err(RelayError::InvalidRequest("a newer device list is stored"));
                }
                dropped = old
                    .devices
                    .iter()
                    .filter(|d| list.get(&d.device).is_none())
                    .map(|d| d.device)
                    .collect();
            }
            if !self.store.replace_device_list(&me.account, stored.as_deref(), &new)? {
                continue;
            }
            if !dropped.is_empty() {
                self.store.remove_devices(&me.account, &dropped)?;
            }
            self.durable().await?;
            // Connections of removed devices find their record gone at
            // their next request, and their delivery stops.
            self.wake_stored(&dropped);
            return Ok(Response::DeviceListStored { version: list.version });
        }
        Err(StoreError::contention().into())
    }

    /// Leaves linking data for another device of the caller's account.
    pub(super) async fn link_slot_put(
        &self,
        me: &Identity,
        slot: &[u8],
        data: &[u8],
    ) -> Result<Response, RelayError> {
        let slot = slot_id(slot)?;
        if data.is_empty() {
            return Err(RelayError::InvalidRequest("empty link data"));
        }
        if data.len() > self.limits.max_payload_bytes {
            return Err(RelayError::TooLarge("link data exceeds the message limit"));
        }
        // The same bucket as link codes: every slot belongs to one.
        self.check_code_attempt(&me.device)?;
        let expires_at = unix_ms().saturating_add(self.retention.ms(RetentionKind::LinkCodes));
        self.store.put_link_slot(&slot, &me.account, data, expires_at)?;
        self.durable().await?;
        Ok(Response::LinkSlotStored)
    }

    /// Takes what a device of the caller's account left in a slot.
    pub(super) async fn link_slot_take(
        &self,
        me: &Identity,
        slot: &[u8],
    ) -> Result<Response, RelayError> {
        let slot = slot_id(slot)?;
        let data = self.store.take_link_slot(&slot, &me.account, unix_ms())?;
        if data.is_some() {
            // Taken means gone, also after a crash.
            self.durable().await?;
        }
        Ok(Response::LinkSlot { data: data.map(serde_bytes::ByteBuf::from) })
    }
}
