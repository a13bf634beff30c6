//! What the server tells a citizen about their own account: the GDPR
//! Art. 15 export answered to [`crate::Request::AccountExport`].

use serde::{Deserialize, Serialize};

use crate::auth::IdentityKey;
use crate::ids::{AccountId, BlobId, DeviceId, GroupId};

/// Everything the server holds about one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountExport {
    /// The account.
    pub account: AccountId,
    /// When it was created (Unix ms).
    pub created_at: u64,
    /// Its devices.
    pub devices: Vec<DeviceExport>,
    /// Groups (conversations) its devices are members of, by id only: the
    /// server cannot read names or messages.
    pub groups: Vec<GroupId>,
    /// Uploads charged to the account.
    pub blobs: Vec<BlobExport>,
    /// Upload bytes charged to the account's quota.
    pub blob_usage_bytes: u64,
    /// Unredeemed link codes for adding devices.
    pub pending_link_codes: u32,
}

/// One device in an [`AccountExport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceExport {
    /// The device.
    pub device: DeviceId,
    /// Its public identity key.
    pub identity_key: IdentityKey,
    /// When it was added (Unix ms).
    pub created_at: u64,
    /// Whether a server admin blocked it.
    pub blocked: bool,
    /// Stored one-time KeyPackages (public keys others use to start a
    /// conversation).
    pub key_packages: u32,
    /// Whether a last-resort KeyPackage is stored.
    pub last_resort_key_package: bool,
    /// Envelopes waiting in its mailbox.
    pub queued_envelopes: u64,
    /// Ciphertext bytes of those envelopes.
    pub queued_bytes: u64,
    /// Whether it is a server admin device.
    pub server_admin: bool,
    /// Handles of orgs it administers.
    pub org_admin_of: Vec<String>,
    /// Handles of orgs it is enrolled in as staff.
    pub staff_of: Vec<String>,
    /// Its Web Push subscription, if it registered one (absent from older
    /// servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_subscription: Option<PushSubscriptionExport>,
}

/// A device's Web Push subscription in an [`AccountExport`]. The server
/// also holds the browser's public key and auth secret for it (needed to
/// encrypt wake-ups), which are not repeated here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSubscriptionExport {
    /// The push service URL the browser gave.
    pub endpoint: String,
    /// When it was registered (Unix ms).
    pub created_at: u64,
    /// When it was last used: registered again, or a push the push service
    /// accepted (Unix ms; 0 from older servers). Unused for the server's
    /// `push_subscription_ttl_days`, it is deleted.
    #[serde(default)]
    pub last_used_at: u64,
}

/// One upload in an [`AccountExport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobExport {
    /// The blob.
    pub blob: BlobId,
    /// Its size in bytes.
    pub size: u64,
    /// Whether the upload was finished.
    pub complete: bool,
    /// When the server deletes it (Unix ms).
    pub expires_at: u64,
}
