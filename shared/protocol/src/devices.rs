//! MLS devices and key packages (docs/mls.md): the device directory, device sessions, key package upload and
//! claim. Binary values (signature keys, signatures, MLS messages) are standard base64 with padding.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The context string of a device session proof: the device signs
/// `field("e2ee.device-session.v1") || field(userId) || field(deviceId) || u64(createdAt)` with its MLS
/// signature key (Ed25519, raw signature over these bytes).
pub const DEVICE_SESSION_CONTEXT: &[u8] = b"e2ee.device-session.v1";

/// A device certificate (docs/mls.md, "Device certificates"): the identity key `issuerKeyId` signed the
/// device statement at `issuedAt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceCertificateView {
    pub issuer_key_id: String,
    /// The statement's `createdAt` (ms since the epoch).
    pub issued_at: u64,
    /// Base64 RSA-PSS signature.
    pub signature: String,
}

/// `POST /api/devices`: registers one of the caller's devices. With a certificate (only while the user has no
/// active device: the first device certifies itself with the account's identity key) the device is active at
/// once; without one it is pending until an existing device approves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegisterDeviceRequest {
    pub device_id: String,
    pub display_name: String,
    /// Base64 MLS signature public key (32 bytes for Ed25519).
    pub signature_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<DeviceCertificateView>,
}

/// `POST /api/devices/approve`: an active device of the same user certifies a pending one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApproveDeviceRequest {
    pub device_id: String,
    pub certificate: DeviceCertificateView,
    /// Base64 of the 32-byte link proof (`e2ee_crypto::DeviceLink`, docs/mls.md "Linking a device"): an
    /// HMAC under the secret of the new device's link code, which the server never sees; stored and listed
    /// with the device for the new device to check. Absent when the approver was given no code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_proof: Option<String>,
}

/// `POST /api/devices/revoke` (user or device token): revokes one of the caller's devices, authorized by a
/// signature of the user's active identity key over the revocation statement (`e2ee_crypto::DeviceRevocation`:
/// `field("e2ee.device-revoke.v1") || field(userId) || field(deviceId) || u64(createdAt)`) or by the account
/// password: exactly one of the two.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RevokeDeviceRequest {
    pub device_id: String,
    /// Must be within 5 minutes of the server's clock.
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<crate::KeyAuthorization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Zeroizing<String>>,
}

/// Where a device is in its life: registered without a certificate (waiting for an existing device to approve
/// it), certified, or revoked (final; the id is never used again). Stored by every backend under
/// [`DeviceStatus::as_str`], the same name as in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    Pending,
    Active,
    Revoked,
}

impl DeviceStatus {
    /// The lowercase name, as in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Active => "active",
            DeviceStatus::Revoked => "revoked",
        }
    }

    /// The inverse of [`DeviceStatus::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        [
            DeviceStatus::Pending,
            DeviceStatus::Active,
            DeviceStatus::Revoked,
        ]
        .into_iter()
        .find(|status| status.as_str() == name)
    }
}

impl std::fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device as the directory lists it: the one description of a user's device that clients use (the SDK's
/// device reports carry it as is, and the client core's trusted subset is derived from it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    pub user_id: String,
    pub device_id: String,
    pub display_name: String,
    /// Base64 MLS signature public key.
    pub signature_key: String,
    pub status: DeviceStatus,
    pub certificate: Option<DeviceCertificateView>,
    pub created_at: i64,
    pub approved_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Base64 link proof given with the approval (see [`ApproveDeviceRequest::link_proof`]); absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_proof: Option<String>,
}

/// `GET /api/devices/{userId}?after=&limit=`: one page of the user's pending and active devices, oldest first
/// (by `createdAt`, then `deviceId`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceList {
    pub user_id: String,
    pub devices: Vec<DeviceView>,
    /// Pass as `after` for the next page (the last device id of this one); absent when the listing is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Most devices in one page of `GET /api/devices/{userId}` (and the default `limit`).
pub const MAX_DEVICE_PAGE: u32 = 100;
/// Most bytes of one page's JSON body; a page is cut short (with `nextAfter`) before it would pass this.
pub const MAX_DEVICE_PAGE_BYTES: usize = 128 * 1024;

/// `POST /api/devices/session`: exchanges the caller's user token and a proof by the device's signature key
/// (see [`DEVICE_SESSION_CONTEXT`]) for a device token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceSessionRequest {
    pub device_id: String,
    /// Must be within 5 minutes of the server's clock.
    pub created_at: u64,
    /// Base64 signature by the device's MLS signature key.
    pub signature: String,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSessionResponse {
    pub token: Zeroizing<String>,
    pub token_type: String,
    pub expires_at: i64,
    pub user_id: String,
    pub device_id: String,
}

/// `POST /api/key-packages`: 1 to 100 base64 `MLSMessage`s, each holding a `KeyPackage` of the calling device.
/// A package with the `last_resort` extension becomes the device's last-resort package.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UploadKeyPackagesRequest {
    pub key_packages: Vec<String>,
}

/// What a device has left (the answer to an upload, and `GET /api/key-packages/supply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyPackageSupplyView {
    pub one_time: u64,
    pub last_resort: bool,
}

/// `POST /api/key-packages/claim`: one key package of each active device of `userId`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClaimKeyPackagesRequest {
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimedKeyPackageView {
    pub device_id: String,
    /// Base64 `MLSMessage` as the device uploaded it.
    pub key_package: String,
    pub last_resort: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimKeyPackagesResponse {
    pub user_id: String,
    pub key_packages: Vec<ClaimedKeyPackageView>,
}

/// The bytes a device signs to open a session: `field(DEVICE_SESSION_CONTEXT) || field(userId) ||
/// field(deviceId) || u64(createdAt)`, with `field(b) = u32be(len(b)) || b` and `u64` big-endian.
pub fn device_session_input(user_id: &str, device_id: &str, created_at: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + user_id.len() + device_id.len());
    for field in [
        DEVICE_SESSION_CONTEXT,
        user_id.as_bytes(),
        device_id.as_bytes(),
    ] {
        // Ids are bounded far below 4 GiB (the id rules); saturate rather than wrap regardless.
        let length = u32::try_from(field.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(field);
    }
    out.extend_from_slice(&created_at.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_input_is_length_prefixed_fields_and_a_big_endian_time() {
        let input = device_session_input("u_1", "d", 0x0102);
        let mut expected = Vec::new();
        expected.extend_from_slice(&[0, 0, 0, 22]);
        expected.extend_from_slice(b"e2ee.device-session.v1");
        expected.extend_from_slice(&[0, 0, 0, 3]);
        expected.extend_from_slice(b"u_1");
        expected.extend_from_slice(&[0, 0, 0, 1, b'd']);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(input, expected);
    }
}
