//! The account's signed device list on this device (issue 13): the account
//! key, pinning other accounts' lists, linking a device through a secret
//! the server never sees, removing a lost device, and the notices a new
//! device of one's own account produces.
//!
//! The server's device directory is only a hint. [`Client::verified_devices`]
//! — the one way the rest of the client learns an account's devices, for
//! conversations and threads alike — returns only devices that are on a
//! list signed by the account key pinned for that account (trust on first
//! contact), never from a list older than the newest one seen.
//!
//! Linking (see [`stadtbote_protocol::device_list`]): `stadtbote link` gets
//! a code from the server and adds a [`LinkSecret`] made here; the new
//! device redeems the server's part, leaves a request tagged with a key
//! derived from the secret, and this device — at its next command — checks
//! the tag, signs a list that holds the new device and leaves it the
//! account key sealed under another key derived from the secret.

use crate::clock::Clock;
use crate::storage::Storage;
use crate::transport::Connector;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use stadtbote_protocol::auth::DeviceSecret;
use stadtbote_protocol::device_list::{
    DEVICE_LIST_VERSION, DeviceList, LINK_SECRET_LEN, LinkApproval, LinkRequest, LinkSecret,
    ListPin, ListedDevice, SignedDeviceList,
};
use stadtbote_protocol::frame::DeviceInfo;
use stadtbote_protocol::{AccountId, DeviceId, ErrorCode, Request, Response};

use crate::error::ClientError;
use crate::session::{Client, unexpected};

/// The account key's secret bytes; never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSecret(pub ByteBuf);

impl std::fmt::Debug for AccountSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountSecret(..)")
    }
}

/// A link code this device handed out and has not seen used yet.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedLink {
    /// The secret half of the code.
    pub secret: ByteBuf,
    /// When the server's half expires (Unix ms).
    pub expires_at: u64,
}

impl std::fmt::Debug for IssuedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IssuedLink(expires_at: {})", self.expires_at)
    }
}

/// A device that appeared on this account's signed list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceNotice {
    /// The new device.
    pub device: DeviceId,
    /// Its key fingerprint.
    pub fingerprint: String,
    /// The list version that added it.
    pub version: u64,
    /// When this device learned of it (Unix ms).
    pub seen_at: u64,
    /// Whether this device approved it.
    pub approved_here: bool,
    /// Whether `inbox` has shown it.
    pub shown: bool,
}

/// Everything about signed device lists in `state.cbor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceLists {
    /// The account key, on devices that hold it.
    #[serde(default)]
    pub account_secret: Option<AccountSecret>,
    /// The newest list of this device's own account seen.
    #[serde(default)]
    pub own: Option<SignedDeviceList>,
    /// Pinned account keys and newest versions, by account (own included).
    #[serde(default)]
    pub pins: BTreeMap<AccountId, ListPin>,
    /// Link codes made here that no device has used yet.
    #[serde(default)]
    pub issued: Vec<IssuedLink>,
    /// On a new device: the secret of the code it was linked with, until
    /// the approval arrived.
    #[serde(default)]
    pub awaiting_approval: Option<ByteBuf>,
    /// On a new device: whether its link request may not have reached the
    /// server yet (sent again at the next login).
    #[serde(default)]
    pub request_unsent: bool,
    /// New devices of this account, for `inbox`.
    #[serde(default)]
    pub notices: Vec<DeviceNotice>,
}

/// A link code as people pass it on: the server's one-time code followed by
/// the secret made on the existing device, in base32 grouped by four.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkCode {
    /// The server's code (sent in `link`).
    pub server_code: String,
    /// The secret (never sent).
    pub secret: LinkSecret,
}

impl std::fmt::Debug for LinkCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkCode(..)")
    }
}

/// Bytes of the server's link code (16 base32 characters).
const SERVER_CODE_BYTES: usize = 10;

impl LinkCode {
    /// The text to type on the new device.
    pub fn to_text(&self) -> String {
        let server =
            stadtbote_protocol::ids::decode_base32_lenient(&self.server_code).unwrap_or_default();
        let text =
            data_encoding::BASE32_NOPAD.encode(&[server.as_slice(), &self.secret.0].concat());
        stadtbote_protocol::ids::grouped(&text, 4, "-")
    }

    /// Parses what the user typed.
    pub fn parse(text: &str) -> Result<Self, ClientError> {
        let bytes = stadtbote_protocol::ids::decode_base32_lenient(text)
            .ok_or(ClientError::InvalidCodeText { what: "link code" })?;
        if bytes.len() == SERVER_CODE_BYTES {
            return Err(ClientError::LinkCodeWithoutSecret);
        }
        if bytes.len() != SERVER_CODE_BYTES + LINK_SECRET_LEN {
            return Err(ClientError::InvalidCodeText { what: "link code" });
        }
        let (server, secret) = bytes.split_at(SERVER_CODE_BYTES);
        let secret: [u8; LINK_SECRET_LEN] =
            secret.try_into().map_err(|_| ClientError::InvalidCodeText { what: "link code" })?;
        Ok(LinkCode {
            server_code: data_encoding::BASE32_NOPAD.encode(server),
            secret: LinkSecret(secret),
        })
    }
}

fn secret_of(bytes: &ByteBuf) -> Option<LinkSecret> {
    let array: [u8; LINK_SECRET_LEN] = bytes.as_slice().try_into().ok()?;
    Some(LinkSecret(array))
}

/// This account's devices as `device list` shows them.
#[derive(Debug, Clone)]
pub struct OwnDevices {
    /// The verified list.
    pub list: DeviceList,
    /// Whether this device holds the account key.
    pub holds_account_key: bool,
}

impl<S: Storage, K: Connector, C: Clock + Clone> Client<S, K, C> {
    fn account_key(&self) -> Result<Option<DeviceSecret>, ClientError> {
        match &self.state.device_lists.account_secret {
            Some(secret) => {
                DeviceSecret::from_bytes(&secret.0).map(Some).map_err(|_| ClientError::StoredData {
                    place: self.store.place().to_string(),
                    reason: "the account key is malformed".into(),
                })
            }
            None => Ok(None),
        }
    }

    /// Creates the account key and the first list (this device alone, or —
    /// for an account from before signed lists — the devices the server
    /// lists now) and publishes it.
    pub(crate) async fn create_account_key(
        &mut self,
        devices: &[DeviceInfo],
    ) -> Result<(), ClientError> {
        let key = DeviceSecret::generate();
        let now = self.clock.now_ms();
        let mut listed = vec![ListedDevice {
            device: self.state.device,
            identity_key: self.secret.identity_key(),
            added_at: now,
        }];
        for info in devices.iter().filter(|d| d.device != self.state.device) {
            listed.push(ListedDevice {
                device: info.device,
                identity_key: info.identity_key,
                added_at: now,
            });
        }
        let list = DeviceList {
            v: DEVICE_LIST_VERSION,
            account: self.state.account,
            account_key: key.identity_key(),
            version: 1,
            issued_at: now,
            devices: listed,
        };
        // The key is on disk before the list it signs is anywhere else.
        self.state.device_lists.account_secret =
            Some(AccountSecret(ByteBuf::from(key.to_bytes().to_vec())));
        self.save().await?;
        self.publish_list(&list.sign(&key)).await
    }

    /// Publishes a list signed here and adopts it as the newest.
    async fn publish_list(&mut self, signed: &SignedDeviceList) -> Result<(), ClientError> {
        let account = self.state.account;
        let pin = self.state.device_lists.pins.get(&account).copied();
        let (_, next) = ListPin::advance(pin.as_ref(), &account, signed)
            .map_err(|e| ClientError::DeviceList { account, reason: e.to_string() })?;
        match self.conn_mut()?.call(Request::PublishDeviceList { list: signed.clone() }).await? {
            Ok(Response::DeviceListStored { .. }) => {}
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) => return Err(ClientError::server(body)),
        }
        self.state.device_lists.pins.insert(account, next);
        self.state.device_lists.own = Some(signed.clone());
        self.save().await
    }

    /// What the server lists for `account`, with its signed list.
    async fn directory_entry(
        &mut self,
        account: &AccountId,
    ) -> Result<(Vec<DeviceInfo>, Option<SignedDeviceList>), ClientError> {
        match self.conn_mut()?.call(Request::ListDevices { account: *account }).await? {
            Ok(Response::Devices { devices, device_list }) => Ok((devices, device_list)),
            Ok(other) => Err(unexpected(&self.server_url, &other)),
            Err(body) if body.code == ErrorCode::UnknownAccount => {
                Err(ClientError::UnknownAccount(*account))
            }
            Err(body) => Err(ClientError::server(body)),
        }
    }

    /// Checks `signed` against the pin for `account`, keeps the newer pin,
    /// and for this device's own account records notices of new devices.
    async fn adopt_list(
        &mut self,
        account: &AccountId,
        signed: &SignedDeviceList,
    ) -> Result<DeviceList, ClientError> {
        let pin = self.state.device_lists.pins.get(account).copied();
        let (list, next) = ListPin::advance(pin.as_ref(), account, signed)
            .map_err(|e| ClientError::DeviceList { account: *account, reason: e.to_string() })?;
        if pin != Some(next) {
            if *account == self.state.account {
                self.note_new_devices(&list, false);
                self.state.device_lists.own = Some(signed.clone());
            }
            self.state.device_lists.pins.insert(*account, next);
            self.save().await?;
        }
        Ok(list)
    }

    /// Records a notice for every device of `list` that the previous own
    /// list did not hold (none for the first list this device sees).
    fn note_new_devices(&mut self, list: &DeviceList, approved_here: bool) {
        let Some(previous) =
            self.state.device_lists.own.as_ref().and_then(|s| s.decode_unverified().ok())
        else {
            return;
        };
        for entry in &list.devices {
            if entry.device == self.state.device || previous.get(&entry.device).is_some() {
                continue;
            }
            self.state.device_lists.notices.push(DeviceNotice {
                device: entry.device,
                fingerprint: entry.identity_key.fingerprint(),
                version: list.version,
                seen_at: self.clock.now_ms(),
                approved_here,
                shown: false,
            });
        }
    }

    /// The devices of `account` that are on its signed device list, with
    /// the keys the list gives them. Devices the server lists beyond it are
    /// left out (and logged); a list that is missing where one was pinned,
    /// signed by another key, or older than one seen is an error.
    pub(crate) async fn verified_devices(
        &mut self,
        account: &AccountId,
    ) -> Result<Vec<DeviceInfo>, ClientError> {
        if *account == self.state.account && self.state.device_lists.awaiting_approval.is_some() {
            return Err(ClientError::AwaitingApproval);
        }
        let (devices, signed) = self.directory_entry(account).await?;
        let Some(signed) = signed else {
            return Err(if self.state.device_lists.pins.contains_key(account) {
                ClientError::DeviceList {
                    account: *account,
                    reason: "the server left out the signed device list this device pinned".into(),
                }
            } else {
                ClientError::NoDeviceList(*account)
            });
        };
        let list = self.adopt_list(account, &signed).await?;
        let (listed, unlisted): (Vec<DeviceInfo>, Vec<DeviceInfo>) =
            devices.into_iter().partition(|d| list.lists(&d.device, &d.identity_key));
        if !unlisted.is_empty() {
            tracing::warn!(
                count = unlisted.len(),
                "devices the server lists that the account did not sign were left out"
            );
        }
        Ok(listed)
    }

    /// Runs after every login: takes a pending approval (new device),
    /// creates the account key for an account from before signed lists,
    /// reads the own list (notices), and approves devices that used a link
    /// code made here.
    pub(crate) async fn settle_device_list(&mut self) -> Result<(), ClientError> {
        if self.state.device_lists.awaiting_approval.is_some() {
            self.take_approval().await?;
            let secret = self.state.device_lists.awaiting_approval.as_ref().and_then(secret_of);
            if let Some(secret) = secret {
                if self.state.device_lists.request_unsent {
                    self.send_link_request(&secret).await?;
                }
                return Ok(());
            }
        }
        let account = self.state.account;
        let (devices, signed) = self.directory_entry(&account).await?;
        match signed {
            Some(signed) => {
                self.adopt_list(&account, &signed).await?;
            }
            None if self.state.device_lists.pins.contains_key(&account) => {
                return Err(ClientError::DeviceList {
                    account,
                    reason: "the server left out the signed device list this device pinned".into(),
                });
            }
            None => match self.account_key()? {
                // Registered, but the first list never reached the server.
                Some(key) => {
                    let signed = self.first_list(&key).sign(&key);
                    self.publish_list(&signed).await?;
                }
                // An account from before signed device lists.
                None => self.create_account_key(&devices).await?,
            },
        }
        self.approve_links(&devices).await
    }

    fn first_list(&self, key: &DeviceSecret) -> DeviceList {
        DeviceList {
            v: DEVICE_LIST_VERSION,
            account: self.state.account,
            account_key: key.identity_key(),
            version: 1,
            issued_at: self.clock.now_ms(),
            devices: vec![ListedDevice {
                device: self.state.device,
                identity_key: self.secret.identity_key(),
                added_at: self.clock.now_ms(),
            }],
        }
    }

    /// The newest verified own list, or an error when there is none.
    fn own_list(&self) -> Result<DeviceList, ClientError> {
        let account = self.state.account;
        let signed =
            self.state.device_lists.own.as_ref().ok_or(ClientError::NoDeviceList(account))?;
        let pin = self.state.device_lists.pins.get(&account);
        signed
            .verify(&account, pin.map(|p| &p.account_key))
            .map_err(|e| ClientError::DeviceList { account, reason: e.to_string() })
    }

    /// Approves devices that left a request for a link code made here.
    async fn approve_links(&mut self, server_devices: &[DeviceInfo]) -> Result<(), ClientError> {
        let now = self.clock.now_ms();
        let before = self.state.device_lists.issued.len();
        self.state.device_lists.issued.retain(|l| l.expires_at > now);
        if self.state.device_lists.issued.len() != before {
            self.save().await?;
        }
        let Some(key) = self.account_key()? else { return Ok(()) };
        for issued in self.state.device_lists.issued.clone() {
            let Some(secret) = secret_of(&issued.secret) else { continue };
            let keys = secret.keys();
            let data = match self
                .conn_mut()?
                .call(Request::LinkSlotTake { slot: ByteBuf::from(keys.request_slot.to_vec()) })
                .await?
            {
                Ok(Response::LinkSlot { data }) => data,
                Ok(other) => return Err(unexpected(&self.server_url, &other)),
                Err(body) => return Err(ClientError::server(body)),
            };
            let Some(data) = data else { continue };
            // The code is used up either way.
            self.state.device_lists.issued.retain(|l| l.secret != issued.secret);
            self.save().await?;
            let request = match LinkRequest::decode(&data) {
                Ok(request) => request,
                Err(error) => {
                    tracing::warn!(%error, "a malformed link request was ignored");
                    continue;
                }
            };
            let genuine = keys.verify_request(&request).is_ok()
                && request.account == self.state.account
                && server_devices
                    .iter()
                    .any(|d| d.device == request.device && d.identity_key == request.identity_key);
            if !genuine {
                tracing::warn!("a link request that does not match the code was refused");
                continue;
            }
            let mut list = self.own_list()?;
            if list.get(&request.device).is_none() {
                list.devices.push(ListedDevice {
                    device: request.device,
                    identity_key: request.identity_key,
                    added_at: self.clock.now_ms(),
                });
            }
            list.version = list.version.saturating_add(1);
            list.issued_at = self.clock.now_ms();
            let signed = list.sign(&key);
            self.note_new_devices(&list, true);
            self.publish_list(&signed).await?;
            let approval = LinkApproval {
                v: DEVICE_LIST_VERSION,
                account_secret: ByteBuf::from(key.to_bytes().to_vec()),
                list: signed,
            };
            let sealed = keys.seal_approval(&approval).map_err(|e| ClientError::DeviceList {
                account: list.account,
                reason: e.to_string(),
            })?;
            let request = Request::LinkSlotPut {
                slot: ByteBuf::from(keys.approval_slot.to_vec()),
                data: ByteBuf::from(sealed),
            };
            match self.conn_mut()?.call(request).await? {
                Ok(Response::LinkSlotStored) => {}
                Ok(other) => return Err(unexpected(&self.server_url, &other)),
                Err(body) => return Err(ClientError::server(body)),
            }
        }
        Ok(())
    }

    /// On a new device: takes the approval, if it is there yet, and adopts
    /// the account key and the list that holds this device.
    async fn take_approval(&mut self) -> Result<(), ClientError> {
        let Some(secret) = self.state.device_lists.awaiting_approval.as_ref().and_then(secret_of)
        else {
            self.state.device_lists.awaiting_approval = None;
            return self.save().await;
        };
        let keys = secret.keys();
        let slot = ByteBuf::from(keys.approval_slot.to_vec());
        let data = match self.conn_mut()?.call(Request::LinkSlotTake { slot }).await? {
            Ok(Response::LinkSlot { data }) => data,
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) => return Err(ClientError::server(body)),
        };
        let Some(data) = data else { return Ok(()) };
        let account = self.state.account;
        let refused = |reason: String| ClientError::DeviceList { account, reason };
        let approval = keys.open_approval(&data).map_err(|e| refused(e.to_string()))?;
        let key = DeviceSecret::from_bytes(&approval.account_secret)
            .map_err(|_| refused("the approval holds no valid account key".into()))?;
        let list = approval
            .list
            .verify(&account, Some(&key.identity_key()))
            .map_err(|e| refused(e.to_string()))?;
        if !list.lists(&self.state.device, &self.secret.identity_key()) {
            return Err(refused("the approved list does not hold this device".into()));
        }
        let (_, pin) =
            ListPin::advance(None, &account, &approval.list).map_err(|e| refused(e.to_string()))?;
        let lists = &mut self.state.device_lists;
        lists.account_secret = Some(AccountSecret(ByteBuf::from(key.to_bytes().to_vec())));
        lists.own = Some(approval.list.clone());
        lists.pins.insert(account, pin);
        lists.awaiting_approval = None;
        lists.request_unsent = false;
        self.save().await
    }

    /// Starts linking a new device: the server's one-time code plus a
    /// secret made here. Needs a connection and the account key.
    pub async fn create_link(&mut self) -> Result<(LinkCode, u64), ClientError> {
        if self.account_key()?.is_none() {
            return Err(ClientError::NoAccountKey);
        }
        let (server_code, expires_at) = self.create_link_code().await?;
        let secret = LinkSecret::generate();
        self.state
            .device_lists
            .issued
            .push(IssuedLink { secret: ByteBuf::from(secret.0.to_vec()), expires_at });
        self.save().await?;
        Ok((LinkCode { server_code, secret }, expires_at))
    }

    /// On a device just linked with `secret`: leaves the request the
    /// existing device approves, and remembers the secret for the approval.
    pub(crate) async fn request_approval(
        &mut self,
        secret: &LinkSecret,
    ) -> Result<(), ClientError> {
        self.state.device_lists.awaiting_approval = Some(ByteBuf::from(secret.0.to_vec()));
        self.state.device_lists.request_unsent = true;
        self.save().await?;
        self.send_link_request(secret).await
    }

    /// Leaves this device's link request in the request slot.
    async fn send_link_request(&mut self, secret: &LinkSecret) -> Result<(), ClientError> {
        let keys = secret.keys();
        let request = keys
            .request(self.state.account, self.state.device, self.secret.identity_key())
            .map_err(|e| ClientError::DeviceList {
                account: self.state.account,
                reason: e.to_string(),
            })?;
        let put = Request::LinkSlotPut {
            slot: ByteBuf::from(keys.request_slot.to_vec()),
            data: ByteBuf::from(request.encode()),
        };
        match self.conn_mut()?.call(put).await? {
            // Stored now, or already by an earlier attempt.
            Ok(Response::LinkSlotStored) => {}
            Err(body) if body.code == ErrorCode::InvalidCode => {}
            Ok(other) => return Err(unexpected(&self.server_url, &other)),
            Err(body) => return Err(ClientError::server(body)),
        }
        self.state.device_lists.request_unsent = false;
        self.save().await
    }

    /// Whether this device still waits for an existing device's approval.
    pub fn awaiting_approval(&self) -> bool {
        self.state.device_lists.awaiting_approval.is_some()
    }

    /// This account's signed device list as last verified (call after
    /// connecting for the newest).
    pub fn own_devices(&self) -> Result<OwnDevices, ClientError> {
        if self.awaiting_approval() {
            return Err(ClientError::AwaitingApproval);
        }
        Ok(OwnDevices {
            list: self.own_list()?,
            holds_account_key: self.state.device_lists.account_secret.is_some(),
        })
    }

    /// Removes a device (a lost phone) from the account: a new signed list
    /// without it. The server deletes the device, so it can no longer log
    /// in; other clients remove it from conversations at their next send.
    pub async fn remove_device(&mut self, device: &DeviceId) -> Result<DeviceList, ClientError> {
        let key = self.account_key()?.ok_or(ClientError::NoAccountKey)?;
        if *device == self.state.device {
            return Err(ClientError::RemoveOwnDevice);
        }
        let mut list = self.own_list()?;
        if list.get(device).is_none() {
            return Err(ClientError::UnknownDevice(device.to_string()));
        }
        list.devices.retain(|d| d.device != *device);
        list.version = list.version.saturating_add(1);
        list.issued_at = self.clock.now_ms();
        self.publish_list(&list.sign(&key)).await?;
        Ok(list)
    }

    /// Device notices `inbox` has not shown yet; marks them shown (saved).
    pub async fn take_device_notices(&mut self) -> Result<Vec<DeviceNotice>, ClientError> {
        let notices: Vec<DeviceNotice> =
            self.state.device_lists.notices.iter().filter(|n| !n.shown).cloned().collect();
        if !notices.is_empty() {
            for notice in &mut self.state.device_lists.notices {
                notice.shown = true;
            }
            self.save().await?;
        }
        Ok(notices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_codes_round_trip_and_old_codes_are_explained() {
        let code = LinkCode { server_code: "ABCDEFGHIJKLMNOP".into(), secret: LinkSecret([7; 20]) };
        let text = code.to_text();
        assert_eq!(text.replace('-', "").len(), 48);
        let back = LinkCode::parse(&text.to_lowercase()).unwrap();
        assert_eq!(back, code);
        assert!(matches!(
            LinkCode::parse("ABCD-EFGH-IJKL-MNOP"),
            Err(ClientError::LinkCodeWithoutSecret)
        ));
        assert!(LinkCode::parse("ABCD").is_err());
        assert!(!format!("{code:?}").contains("ABCD"));
    }
}
