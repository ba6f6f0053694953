//! The MLS part of the contract (docs/mls.md): the device directory (our Authentication Service) and the
//! one-time key packages devices publish so that others can add them to groups.
//!
//! The store checks shapes only; whether a device certificate verifies under the user's identity key, and
//! whether a key package is a valid MLS message for its device, is checked by the caller (`e2ee-api` with
//! `e2ee-crypto` and `e2ee-mls`) before anything is written.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::model::Millis;

/// At most this many key packages in one upload.
pub const MAX_KEY_PACKAGE_BATCH: usize = 100;
/// Longest stored key package message (an `MLSMessage` holding a `KeyPackage`), in bytes.
pub const MAX_KEY_PACKAGE_BYTES: usize = 16 * 1024;
/// A claim hands out packages of at most this many devices (the oldest active ones), so that its answer stays
/// far below Lambda's 6 MB response limit (100 × 16 KiB, base64 in JSON: 2.2 MB).
pub const MAX_CLAIMED_DEVICES: usize = 100;
/// Longest key package reference (RFC 9420 §5.2: a hash, 32 bytes for ciphersuite 0x0001).
pub const MAX_KEY_PACKAGE_REF_BYTES: usize = 64;
/// Longest certificate signature (RSA-PSS under a 4096-bit key: 512 bytes).
pub const MAX_CERTIFICATE_SIGNATURE_BYTES: usize = 512;
/// A link proof's length (HMAC-SHA256, docs/mls.md "Linking a device").
pub const LINK_PROOF_BYTES: usize = 32;

/// The protocol's device status (`e2ee_protocol::DeviceStatus`), stored under its `as_str` name.
pub use e2ee_protocol::DeviceStatus;

/// A device certificate as stored: the RSA-PSS signature of the identity key `issuer_key_id` over the device
/// statement of docs/mls.md, issued at `issued_at`. The rest of the statement (user, device, signature key)
/// is the device record itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCertificate {
    /// 64 lowercase hex: the key id of the identity key that signed.
    pub issuer_key_id: String,
    pub issued_at: Millis,
    pub signature: Vec<u8>,
    /// The link proof the approving device gave with this certificate ([`LINK_PROOF_BYTES`]), if any: stored
    /// as given (the server cannot check it) and listed for the approved device, which can.
    pub link_proof: Option<Vec<u8>>,
}

/// A device as stored. The API answers it as `e2ee_protocol::DeviceView` (`e2ee_api::views`), the type clients
/// use; this one holds raw bytes and stays private to the server (its backends map it field by field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub user_id: String,
    /// 1–64 of `A–Z a–z 0–9 _ -` (`e2ee_protocol::ids::is_device_id`), chosen by the client.
    pub device_id: String,
    pub display_name: String,
    /// The device's MLS signature public key (raw; 32 bytes for Ed25519).
    pub signature_key: Vec<u8>,
    pub status: DeviceStatus,
    /// `None` while the device is pending.
    pub certificate: Option<DeviceCertificate>,
    pub created_at: Millis,
    pub approved_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

#[derive(Debug, Clone)]
pub struct NewDevice {
    pub user_id: String,
    pub device_id: String,
    pub display_name: String,
    pub signature_key: Vec<u8>,
    /// With a certificate the device is active at once (the first device, certified by the account's key);
    /// without one it is pending until [`DeviceStore::approve`].
    pub certificate: Option<DeviceCertificate>,
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Registers a device. Registering the same device again (same signature key and certificate) returns the
    /// stored record unchanged; the id with another key or certificate is `DeviceExists`, and the id of a
    /// revoked device is `DeviceRevoked`.
    async fn register(&self, device: NewDevice) -> StoreResult<DeviceRecord>;
    /// Makes a pending device active under `certificate`. Idempotent for the same certificate;
    /// `DeviceNotPending` for an active device with another one, `DeviceRevoked`, `DeviceNotFound`.
    async fn approve(
        &self,
        user_id: &str,
        device_id: &str,
        certificate: DeviceCertificate,
    ) -> StoreResult<DeviceRecord>;
    /// Revokes a device (final) and deletes its key packages. Idempotent (the first `revoked_at` is kept);
    /// `DeviceNotFound` for an unknown device.
    async fn revoke(&self, user_id: &str, device_id: &str) -> StoreResult<DeviceRecord>;
    async fn get(&self, user_id: &str, device_id: &str) -> StoreResult<Option<DeviceRecord>>;
    /// The user's pending and active devices (revoked ones are gone from the list), oldest first.
    async fn list_for_user(&self, user_id: &str) -> StoreResult<Vec<DeviceRecord>>;
    /// One page of [`Self::list_for_user`]: at most `limit` (1 to [`MAX_DEVICE_PAGE_ROWS`]) devices strictly after
    /// the position `after` (`(created_at, device_id)` of the last device of the previous page), oldest first.
    async fn list_page(
        &self,
        user_id: &str,
        after: Option<(Millis, &str)>,
        limit: u32,
    ) -> StoreResult<Vec<DeviceRecord>>;
    /// How many pending and active devices the user has (the caps of docs/security.md).
    async fn count_for_user(&self, user_id: &str) -> StoreResult<DeviceCounts>;
}

/// Most devices [`DeviceStore::list_page`] returns at once.
pub const MAX_DEVICE_PAGE_ROWS: u32 = 1000;

/// A user's devices by status, revoked ones not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceCounts {
    pub pending: u64,
    pub active: u64,
}

/// A key package the caller validated (`e2ee_mls::validate_key_package`), ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKeyPackage {
    /// The package's reference (RFC 9420 §5.2); unique across the store.
    pub key_package_ref: Vec<u8>,
    /// The `MLSMessage` bytes as uploaded; handed out unchanged.
    pub message: Vec<u8>,
    /// End of the package's lifetime; it is never handed out from then on.
    pub not_after: Millis,
    /// Handed out without being consumed when the device has no other package; one per device (a new one
    /// replaces the previous one).
    pub last_resort: bool,
}

/// A package handed out by [`KeyPackageStore::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedKeyPackage {
    pub device_id: String,
    pub key_package_ref: Vec<u8>,
    pub message: Vec<u8>,
    pub last_resort: bool,
}

/// What a device has left to hand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPackageSupply {
    /// Unexpired one-time packages.
    pub one_time: u64,
    /// Whether an unexpired last-resort package is stored.
    pub last_resort: bool,
}

#[async_trait]
pub trait KeyPackageStore: Send + Sync {
    /// Stores 1 to [`MAX_KEY_PACKAGE_BATCH`] packages of an active device (`DevicePending`, `DeviceRevoked`,
    /// `DeviceNotFound` otherwise); a package already stored is skipped (retries are harmless); a package
    /// expired at `now` is `Invalid`. Returns the supply afterwards.
    async fn upload(
        &self,
        user_id: &str,
        device_id: &str,
        packages: Vec<NewKeyPackage>,
        now: Millis,
    ) -> StoreResult<KeyPackageSupply>;
    async fn supply(
        &self,
        user_id: &str,
        device_id: &str,
        now: Millis,
    ) -> StoreResult<KeyPackageSupply>;
    /// One package for each active device of the user, oldest first by device: a one-time package, removed
    /// in the same atomic step (two concurrent claims never receive the same one), or, when none is left, the
    /// device's last-resort package (not removed). Devices with neither are left out. Expired packages are
    /// never handed out. At most [`MAX_CLAIMED_DEVICES`] devices are claimed from. Each package handed out is
    /// recorded as granted to `claimer_user`: only that user's commits may add it
    /// ([`GroupStore::commit`](crate::GroupStore::commit)).
    async fn claim(
        &self,
        claimer_user: &str,
        user_id: &str,
        now: Millis,
    ) -> StoreResult<Vec<ClaimedKeyPackage>>;
}
