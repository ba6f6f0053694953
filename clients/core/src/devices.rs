//! Which devices of a user this device trusts (docs/mls.md, "Device certificates"): an active device whose
//! certificate verifies under an identity key of that user that vouches for it at the certificate's time —
//! for a contact, a key pinned on this device ([`crate::contacts::Contact::lifetime`]); for this device's own
//! user, a key this device holds or was given by a device that holds one. Every other device is left out, and
//! whatever names it (a key package, a Welcome's member, a commit's new leaf) is refused.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_crypto::{DeviceStatement, KeyId};
use e2ee_protocol::{DeviceStatus, DeviceView};
use sha2::Digest as _;

use crate::contacts::KeyLifetime;
use crate::directory::Directory;

/// A device of a user as this device trusts it: the subset of a listed `e2ee_protocol::DeviceView` that passed
/// [`check_device`], with its signature key decoded, which is all the MLS checks compare (a key package's,
/// Welcome member's or new leaf's signature key). Not a second description of a device: only trusted ones
/// become one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedDevice {
    pub user_id: String,
    pub device_id: String,
    pub signature_key: Vec<u8>,
}

/// Why a listed device is not trusted (for `device list` and refusal messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncertified {
    /// Not active (pending or revoked), or listed under another user.
    NotActive,
    /// No certificate, or one that is not well-formed.
    NoCertificate,
    /// Certified by a key this device does not trust for the user.
    UntrustedIssuer,
    /// Certified by a trusted key after that key stopped vouching (retired or replaced as this device
    /// recorded it).
    IssuedAfterRetirement,
    /// The issuer is not in the user's listing, or is revoked there.
    IssuerNotListed,
    /// The signature does not verify.
    BadSignature,
}

impl Uncertified {
    pub fn as_str(self) -> &'static str {
        match self {
            Uncertified::NotActive => "not_active",
            Uncertified::NoCertificate => "no_certificate",
            Uncertified::UntrustedIssuer => "untrusted_issuer",
            Uncertified::IssuedAfterRetirement => "issued_after_retirement",
            Uncertified::IssuerNotListed => "issuer_not_listed",
            Uncertified::BadSignature => "bad_signature",
        }
    }
}

/// Checks one listed device of `user_id`: `vouching(issuer key id)` says how long a key vouches, `None` for a
/// key this device does not trust for the user; `listing` supplies the issuer's public key.
pub fn check_device(
    user_id: &str,
    device: &DeviceView,
    listing: &Directory,
    vouching: impl Fn(&str) -> Option<KeyLifetime>,
) -> Result<CertifiedDevice, Uncertified> {
    if device.status != DeviceStatus::Active || device.user_id != user_id {
        return Err(Uncertified::NotActive);
    }
    let certificate = device
        .certificate
        .as_ref()
        .ok_or(Uncertified::NoCertificate)?;
    let signature_key = STANDARD
        .decode(&device.signature_key)
        .map_err(|_| Uncertified::NoCertificate)?;
    let signature = STANDARD
        .decode(&certificate.signature)
        .map_err(|_| Uncertified::NoCertificate)?;
    let issuer =
        KeyId::parse(&certificate.issuer_key_id).map_err(|_| Uncertified::NoCertificate)?;
    let lifetime = vouching(&issuer.to_string()).ok_or(Uncertified::UntrustedIssuer)?;
    if !lifetime.vouches_at(certificate.issued_at) {
        return Err(Uncertified::IssuedAfterRetirement);
    }
    let key = listing
        .key(&issuer.to_string())
        .filter(|key| !key.revoked)
        .ok_or(Uncertified::IssuerNotListed)?;
    let statement = DeviceStatement {
        user_id: &device.user_id,
        device_id: &device.device_id,
        signature_key: &signature_key,
        issuer_key_id: issuer,
        created_at: certificate.issued_at,
    };
    statement
        .verify(&key.key, &signature)
        .map_err(|_| Uncertified::BadSignature)?;
    Ok(CertifiedDevice {
        user_id: device.user_id.clone(),
        device_id: device.device_id.clone(),
        signature_key,
    })
}

/// Whether `identity` with `signature_key` is one of `certified` (a user's [`certified_devices`]): the same user,
/// the same device id **and** the same signature key.
pub fn is_listed(
    certified: &[CertifiedDevice],
    identity: &e2ee_mls::DeviceIdentity,
    signature_key: &[u8],
) -> bool {
    certified.iter().any(|d| {
        d.user_id == identity.user_id
            && d.device_id == identity.device_id
            && d.signature_key == signature_key
    })
}

/// The devices of `user_id`'s listing that this device trusts (see [`check_device`]).
pub fn certified_devices(
    user_id: &str,
    devices: &[DeviceView],
    listing: &Directory,
    vouching: impl Fn(&str) -> Option<KeyLifetime>,
) -> Vec<CertifiedDevice> {
    devices
        .iter()
        .filter_map(|device| check_device(user_id, device, listing, &vouching).ok())
        .collect()
}

/// The fingerprint of a device signature key: SHA-256, hex in groups of four.
pub fn device_fingerprint(signature_key: &[u8]) -> String {
    let digest = sha2::Sha256::digest(signature_key);
    let hex = hex::encode(digest);
    hex.as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The members of a group to remove because their user's directory no longer lists them (review N13): the
/// directory lists pending and active devices only, so a revoked device is one that is missing. `listings` has
/// the complete listing of every user it names; members of other users, and `me`, are never chosen.
pub fn revoked_members(
    members: &[e2ee_mls::DeviceIdentity],
    me: &e2ee_mls::DeviceIdentity,
    listings: &std::collections::BTreeMap<String, Vec<DeviceView>>,
) -> Vec<e2ee_mls::DeviceIdentity> {
    members
        .iter()
        .filter(|member| *member != me)
        .filter(|member| {
            listings.get(&member.user_id).is_some_and(|listed| {
                !listed
                    .iter()
                    .any(|d| d.device_id == member.device_id && d.status != DeviceStatus::Revoked)
            })
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use e2ee_mls::DeviceIdentity;

    fn listed(user: &str, device: &str, status: DeviceStatus) -> DeviceView {
        DeviceView {
            user_id: user.into(),
            device_id: device.into(),
            display_name: device.into(),
            signature_key: String::new(),
            status,
            certificate: None,
            created_at: 0,
            approved_at: None,
            revoked_at: None,
            link_proof: None,
        }
    }

    #[test]
    fn members_the_directory_no_longer_lists_are_the_ones_to_remove() {
        let id = |u: &str, d: &str| DeviceIdentity::new(u, d).unwrap();
        let me = id("u_alice", "laptop");
        let members = [
            me.clone(),
            id("u_alice", "old-phone"),
            id("u_bob", "phone"),
            id("u_bob", "stolen"),
            id("u_carol", "tablet"),
        ];
        let listings = std::collections::BTreeMap::from([
            (
                "u_alice".to_owned(),
                vec![listed("u_alice", "laptop", DeviceStatus::Active)],
            ),
            (
                "u_bob".to_owned(),
                vec![
                    listed("u_bob", "phone", DeviceStatus::Active),
                    listed("u_bob", "stolen", DeviceStatus::Revoked),
                ],
            ),
        ]);
        assert_eq!(
            revoked_members(&members, &me, &listings),
            vec![id("u_alice", "old-phone"), id("u_bob", "stolen")],
            "carol's listing was not fetched: her devices stay"
        );
    }
}
