//! Linking a device (review finding N10; docs/mls.md, "Linking a device"): how a new device of a user learns
//! that user's identity key from the device that approved it, instead of trusting whatever key the server lists.
//!
//! 1. The new device (`e2ee device request`) draws a [`LinkSecret`] (randomness comes in), keeps it sealed, and
//!    shows a **link code** ([`link_code`]): the secret and a 4-byte check bound to its user id, device id and
//!    signature key, in base32 groups.
//! 2. The user types the code on a device that holds the identity key. It checks the code against the pending
//!    device the server lists ([`check_link_code`]: a code for another device or key is refused), certifies the
//!    device, and sends a **link proof** ([`link_proof`]): `HMAC-SHA256(secret, DeviceLink statement)` over the
//!    certificate's fields, issuer key id included (`e2ee_crypto::DeviceLink`).
//! 3. The new device, holding no identity key, verifies the proof listed with its own device
//!    ([`linked_identity_key`]) and pins the issuer key as its own user's key. The server never sees the secret,
//!    so it can neither forge a proof for a key of its own nor move a proof to another key or device. No proof,
//!    or a wrong one: nothing is pinned (no trust on first use for one's own user).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_crypto::{DeviceLink, DeviceStatement, KeyId, LINK_SECRET_BYTES};
use e2ee_protocol::{DeviceCertificateView, DeviceStatus, DeviceView};
use hmac::{KeyInit as _, Mac as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::directory::Directory;

const CODE_CHECK_CONTEXT: &[u8] = b"e2ee.device-link-code.v1";
/// Bytes of the check a link code carries after the secret.
pub const LINK_CHECK_BYTES: usize = 4;
/// RFC 4648 base32 alphabet (no padding: a code is 20 bytes, a multiple of 5).
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Characters of a link code without separators.
pub const LINK_CODE_CHARS: usize = (LINK_SECRET_BYTES + LINK_CHECK_BYTES) * 8 / 5;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The secret of a link code. Kept only in the new device's sealed MLS state; never shown in `Debug`, zeroed
/// when dropped. Serialized (inside the sealed state) as base64.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkSecret(Zeroizing<[u8; LINK_SECRET_BYTES]>);

impl LinkSecret {
    /// `bytes` must come from a cryptographic random source (the driver's).
    pub fn from_bytes(bytes: [u8; LINK_SECRET_BYTES]) -> Self {
        LinkSecret(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl std::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSecret(<redacted>)")
    }
}

impl Serialize for LinkSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&Zeroizing::new(STANDARD.encode(self.as_bytes())))
    }
}

impl<'de> Deserialize<'de> for LinkSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.as_bytes())
                .map_err(|_| serde::de::Error::custom("a link secret that is not base64"))?,
        );
        let array: [u8; LINK_SECRET_BYTES] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| serde::de::Error::custom("a link secret of the wrong length"))?;
        Ok(LinkSecret::from_bytes(array))
    }
}

/// The check bound to the device the code names: the first [`LINK_CHECK_BYTES`] of
/// `HMAC-SHA256(secret, field("e2ee.device-link-code.v1") || field(userId) || field(deviceId) ||
/// field(signatureKey))`.
fn code_check(
    secret: &LinkSecret,
    user_id: &str,
    device_id: &str,
    signature_key: &[u8],
) -> [u8; LINK_CHECK_BYTES] {
    let mut check = [0u8; LINK_CHECK_BYTES];
    // HMAC takes keys of any length: this never fails.
    if let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) {
        for field in [
            CODE_CHECK_CONTEXT,
            user_id.as_bytes(),
            device_id.as_bytes(),
            signature_key,
        ] {
            let length = u32::try_from(field.len()).unwrap_or(u32::MAX);
            mac.update(&length.to_be_bytes());
            mac.update(field);
        }
        let tag = mac.finalize().into_bytes();
        check.copy_from_slice(&tag[..LINK_CHECK_BYTES]);
    }
    check
}

/// The link code of `user_id`'s new device `device_id` with `signature_key`: base32 (RFC 4648) of the secret and
/// its check, in groups of 4 joined by `-` (8 groups).
pub fn link_code(
    secret: &LinkSecret,
    user_id: &str,
    device_id: &str,
    signature_key: &[u8],
) -> String {
    let mut bytes = Zeroizing::new(Vec::with_capacity(LINK_SECRET_BYTES + LINK_CHECK_BYTES));
    bytes.extend_from_slice(secret.as_bytes());
    bytes.extend_from_slice(&code_check(secret, user_id, device_id, signature_key));
    let mut chars = String::with_capacity(LINK_CODE_CHARS + 8);
    for (index, chunk) in bytes.chunks(5).enumerate() {
        let mut block = [0u8; 8];
        block[3..3 + chunk.len()].copy_from_slice(chunk);
        let value = u64::from_be_bytes(block);
        for position in 0..8 {
            let digit = (value >> (35 - 5 * position)) & 31;
            let count = index * 8 + position;
            if count > 0 && count % 4 == 0 {
                chars.push('-');
            }
            chars.push(char::from(BASE32[usize::try_from(digit).unwrap_or(0)]));
        }
    }
    chars
}

/// Why a link code was not accepted for a pending device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkCodeError {
    #[error(
        "a link code is {LINK_CODE_CHARS} characters A-Z and 2-7 (dashes and spaces ignored), as `e2ee device request` printed it"
    )]
    Malformed,
    #[error(
        "this link code was made by another device, or the server lists this device with another signature key: nothing was approved"
    )]
    OtherDevice,
}

/// The approving device's check of a code the user typed against the pending device as the server lists it
/// (`user_id`'s device `device_id` with `signature_key`). Returns the secret to prove the approval with.
pub fn check_link_code(
    code: &str,
    user_id: &str,
    device_id: &str,
    signature_key: &[u8],
) -> Result<LinkSecret, LinkCodeError> {
    let mut digits = Vec::with_capacity(LINK_CODE_CHARS);
    for c in code.chars().filter(|c| *c != '-' && !c.is_whitespace()) {
        let upper = u8::try_from(c.to_ascii_uppercase()).map_err(|_| LinkCodeError::Malformed)?;
        let digit = BASE32
            .iter()
            .position(|&b| b == upper)
            .ok_or(LinkCodeError::Malformed)?;
        digits.push(u64::try_from(digit).map_err(|_| LinkCodeError::Malformed)?);
    }
    if digits.len() != LINK_CODE_CHARS {
        return Err(LinkCodeError::Malformed);
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(LINK_SECRET_BYTES + LINK_CHECK_BYTES));
    for block in digits.chunks(8) {
        let value = block.iter().fold(0u64, |acc, d| (acc << 5) | d);
        bytes.extend_from_slice(&value.to_be_bytes()[3..]);
    }
    let (secret, check) = bytes.split_at(LINK_SECRET_BYTES);
    let secret = LinkSecret::from_bytes(secret.try_into().map_err(|_| LinkCodeError::Malformed)?);
    let expected = code_check(&secret, user_id, device_id, signature_key);
    // Not secret (the user typed it), so a plain comparison is fine.
    if check != expected {
        return Err(LinkCodeError::OtherDevice);
    }
    Ok(secret)
}

/// The link proof (base64, for `ApproveDeviceRequest.linkProof`) of `certificate` for `user_id`'s device
/// `device_id` with `signature_key`. `None` if the certificate's issuer key id does not parse.
pub fn link_proof(
    secret: &LinkSecret,
    user_id: &str,
    device_id: &str,
    signature_key: &[u8],
    certificate: &DeviceCertificateView,
) -> Option<String> {
    let link = DeviceLink {
        user_id,
        device_id,
        signature_key,
        issuer_key_id: KeyId::parse(&certificate.issuer_key_id).ok()?,
        issued_at: certificate.issued_at,
    };
    link.prove(secret.as_bytes())
        .ok()
        .map(|proof| STANDARD.encode(proof))
}

/// The identity key a linked device pins for its own user: the issuer of its certificate, vouched for by the
/// link proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedKey {
    pub key_id: String,
    pub fingerprint: String,
}

/// Why a linked device pins no key for its own user. Its own user's devices stay untrusted until the user
/// compares fingerprints and accepts the key (`e2ee keys verify USERNAME --accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    #[error("this device holds no link secret (it was not set up with `e2ee device request`)")]
    NoSecret,
    #[error("the server does not list this device as an active device of your account")]
    NotListed,
    #[error("the server lists this device with another signature key")]
    OtherSignatureKey,
    #[error("this device's certificate is missing or malformed")]
    NoCertificate,
    #[error(
        "the approval carries no link proof (approved without the link code, e.g. by the browser client)"
    )]
    NoProof,
    #[error(
        "the link proof does not verify: the approval was not made with this device's link code for the key the server lists"
    )]
    BadProof,
    #[error("the key that certified this device is not listed (or revoked)")]
    IssuerNotListed,
    #[error("this device's certificate does not verify under the key that issued it")]
    BadCertificate,
}

impl LinkRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkRefusal::NoSecret => "no_link_secret",
            LinkRefusal::NotListed => "not_listed",
            LinkRefusal::OtherSignatureKey => "other_signature_key",
            LinkRefusal::NoCertificate => "no_certificate",
            LinkRefusal::NoProof => "no_link_proof",
            LinkRefusal::BadProof => "bad_link_proof",
            LinkRefusal::IssuerNotListed => "issuer_not_listed",
            LinkRefusal::BadCertificate => "bad_certificate",
        }
    }
}

/// This device (`user_id`'s `device_id`, whose signature key is `signature_key` as its own state holds it):
/// which identity key of its own user it may pin, from its entry in `devices` (the user's device listing) and
/// `listing` (the user's keys). The entry must be active, carry this very signature key, a certificate that
/// verifies under the listed, unrevoked issuer key, and a link proof that verifies under `secret` over that
/// certificate's statement. Pure: the driver pins the result as the user's accepted key.
pub fn linked_identity_key(
    secret: Option<&LinkSecret>,
    user_id: &str,
    device_id: &str,
    signature_key: &[u8],
    devices: &[DeviceView],
    listing: &Directory,
) -> Result<LinkedKey, LinkRefusal> {
    let secret = secret.ok_or(LinkRefusal::NoSecret)?;
    let mine = devices
        .iter()
        .find(|d| {
            d.user_id == user_id && d.device_id == device_id && d.status == DeviceStatus::Active
        })
        .ok_or(LinkRefusal::NotListed)?;
    if STANDARD.decode(&mine.signature_key).ok().as_deref() != Some(signature_key) {
        return Err(LinkRefusal::OtherSignatureKey);
    }
    let certificate = mine
        .certificate
        .as_ref()
        .ok_or(LinkRefusal::NoCertificate)?;
    let issuer =
        KeyId::parse(&certificate.issuer_key_id).map_err(|_| LinkRefusal::NoCertificate)?;
    let signature = STANDARD
        .decode(&certificate.signature)
        .map_err(|_| LinkRefusal::NoCertificate)?;
    let proof = mine.link_proof.as_ref().ok_or(LinkRefusal::NoProof)?;
    let proof = STANDARD.decode(proof).map_err(|_| LinkRefusal::BadProof)?;
    let link = DeviceLink {
        user_id,
        device_id,
        signature_key,
        issuer_key_id: issuer,
        issued_at: certificate.issued_at,
    };
    link.verify(secret.as_bytes(), &proof)
        .map_err(|_| LinkRefusal::BadProof)?;
    let key = listing
        .key(&issuer.to_string())
        .filter(|key| !key.revoked)
        .ok_or(LinkRefusal::IssuerNotListed)?;
    let statement = DeviceStatement {
        user_id,
        device_id,
        signature_key,
        issuer_key_id: issuer,
        created_at: certificate.issued_at,
    };
    statement
        .verify(&key.key, &signature)
        .map_err(|_| LinkRefusal::BadCertificate)?;
    Ok(LinkedKey {
        key_id: key.key_id.clone(),
        fingerprint: key.key.key_id().fingerprint(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::contacts::Contacts;
    use e2ee_crypto::{KeySize, PrivateKey};
    use e2ee_protocol::{KeyStatus, KeyView, PublicKeyResponse};
    use std::sync::OnceLock;

    const ME: &str = "u_alice";
    const PHONE: &str = "phone";
    const PHONE_KEY: [u8; 32] = [7; 32];

    struct Keys {
        alice: PrivateKey,
        server: PrivateKey,
    }

    fn keys() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| Keys {
            alice: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
            server: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
        })
    }

    fn secret(byte: u8) -> LinkSecret {
        LinkSecret::from_bytes([byte; LINK_SECRET_BYTES])
    }

    fn key_info(key: &PrivateKey, status: KeyStatus) -> KeyView {
        serde_json::from_value(serde_json::json!({
            "keyId": key.key_id().to_string(),
            "fingerprint": key.key_id().fingerprint(),
            "bits": 2048,
            "publicKey": key.public_key().to_spki_pem().unwrap(),
            "status": status,
            "createdAt": 1,
        }))
        .unwrap()
    }

    /// The listing of alice's keys with `active` as the active key, and `others` beside it.
    fn listing(active: &PrivateKey, others: &[&PrivateKey]) -> Directory {
        let mut keys = vec![key_info(active, KeyStatus::Active)];
        keys.extend(others.iter().map(|k| key_info(k, KeyStatus::Retired)));
        let response: PublicKeyResponse = serde_json::from_value(serde_json::json!({
            "userId": ME,
            "keyId": active.key_id().to_string(),
            "fingerprint": active.key_id().fingerprint(),
            "bits": 2048,
            "publicKey": active.public_key().to_spki_pem().unwrap(),
            "createdAt": 1,
            "keys": keys,
        }))
        .unwrap();
        Directory::from_listing(&response)
    }

    /// `device_id` of alice certified by `issuer` at 1000, with `proof` as its listed link proof.
    fn device(device_id: &str, issuer: &PrivateKey, proof: Option<String>) -> DeviceView {
        let statement = DeviceStatement {
            user_id: ME,
            device_id,
            signature_key: &PHONE_KEY,
            issuer_key_id: issuer.key_id(),
            created_at: 1000,
        };
        DeviceView {
            user_id: ME.into(),
            device_id: device_id.into(),
            display_name: device_id.into(),
            signature_key: STANDARD.encode(PHONE_KEY),
            status: DeviceStatus::Active,
            certificate: Some(DeviceCertificateView {
                issuer_key_id: issuer.key_id().to_string(),
                issued_at: 1000,
                signature: STANDARD.encode(statement.sign(issuer).unwrap()),
            }),
            created_at: 1,
            approved_at: Some(1000),
            revoked_at: None,
            link_proof: proof,
        }
    }

    /// The proof an approver holding `secret` makes for `device_id`'s certificate by `issuer`.
    fn proof(secret: &LinkSecret, device_id: &str, issuer: &PrivateKey) -> String {
        let certificate = device(device_id, issuer, None).certificate.unwrap();
        link_proof(secret, ME, device_id, &PHONE_KEY, &certificate).unwrap()
    }

    fn decide(
        secret: &LinkSecret,
        listed: DeviceView,
        keys: &Directory,
    ) -> Result<LinkedKey, LinkRefusal> {
        linked_identity_key(Some(secret), ME, PHONE, &PHONE_KEY, &[listed], keys)
    }

    #[test]
    fn a_good_proof_pins_the_approvers_key_as_accepted() {
        let k = keys();
        let mine = secret(1);
        let listed = device(PHONE, &k.alice, Some(proof(&mine, PHONE, &k.alice)));
        let linked = decide(&mine, listed, &listing(&k.alice, &[])).unwrap();
        assert_eq!(linked.key_id, k.alice.key_id().to_string());
        assert_eq!(linked.fingerprint, k.alice.key_id().fingerprint());

        // The driver pins it: alice's own devices certified by that key are then vouched for.
        let mut contacts = Contacts::default();
        contacts.accept(ME, "alice", &linked.key_id, &linked.fingerprint, 5);
        let lifetime = contacts.get(ME).unwrap().lifetime(&linked.key_id).unwrap();
        assert!(lifetime.vouches_at(1000));
    }

    #[test]
    fn a_key_the_server_lists_as_active_is_not_pinned_without_a_proof_for_it() {
        let k = keys();
        let mine = secret(1);
        // The lying server: its own key is alice's active key, and it certified this device with it.
        let server_keys = listing(&k.server, &[&k.alice]);
        // No proof at all.
        assert_eq!(
            decide(&mine, device(PHONE, &k.server, None), &server_keys),
            Err(LinkRefusal::NoProof)
        );
        // A proof by another secret (the server's guess) for its key.
        let forged = proof(&secret(2), PHONE, &k.server);
        assert_eq!(
            decide(&mine, device(PHONE, &k.server, Some(forged)), &server_keys),
            Err(LinkRefusal::BadProof)
        );
        // The real approver's proof (alice's key), moved onto a certificate by the server's key.
        let real = proof(&mine, PHONE, &k.alice);
        assert_eq!(
            decide(&mine, device(PHONE, &k.server, Some(real)), &server_keys),
            Err(LinkRefusal::BadProof)
        );
        // A proof made for another device (the server's ghost), listed on this one.
        let for_ghost = proof(&mine, "ghost", &k.alice);
        assert_eq!(
            decide(
                &mine,
                device(PHONE, &k.alice, Some(for_ghost)),
                &listing(&k.alice, &[])
            ),
            Err(LinkRefusal::BadProof)
        );
        // Another signature key for this device, and no secret at all.
        let mut swapped = device(PHONE, &k.alice, Some(proof(&mine, PHONE, &k.alice)));
        swapped.signature_key = STANDARD.encode([8u8; 32]);
        assert_eq!(
            decide(&mine, swapped, &listing(&k.alice, &[])),
            Err(LinkRefusal::OtherSignatureKey)
        );
        let good = device(PHONE, &k.alice, Some(proof(&mine, PHONE, &k.alice)));
        assert_eq!(
            linked_identity_key(
                None,
                ME,
                PHONE,
                &PHONE_KEY,
                std::slice::from_ref(&good),
                &listing(&k.alice, &[])
            ),
            Err(LinkRefusal::NoSecret)
        );
        // A good proof whose issuer the listing leaves out.
        assert_eq!(
            decide(&mine, good, &listing(&k.server, &[])),
            Err(LinkRefusal::IssuerNotListed)
        );
    }

    #[test]
    fn codes_round_trip_and_name_their_device() {
        let mine = secret(0xA7);
        let code = link_code(&mine, ME, PHONE, &PHONE_KEY);
        assert_eq!(code.len(), LINK_CODE_CHARS + 7, "{code}");
        assert_eq!(code.split('-').count(), 8, "{code}");
        assert!(
            code.chars()
                .all(|c| c == '-' || BASE32.contains(&(c as u8)))
        );
        assert_eq!(
            check_link_code(&code, ME, PHONE, &PHONE_KEY),
            Ok(mine.clone())
        );
        // Typed loosely: lowercase, spaces for dashes.
        let loose = code.to_lowercase().replace('-', " ");
        assert_eq!(check_link_code(&loose, ME, PHONE, &PHONE_KEY), Ok(mine));
        // Another device, user or signature key: refused.
        assert_eq!(
            check_link_code(&code, ME, "ghost", &PHONE_KEY),
            Err(LinkCodeError::OtherDevice)
        );
        assert_eq!(
            check_link_code(&code, "u_bob", PHONE, &PHONE_KEY),
            Err(LinkCodeError::OtherDevice)
        );
        assert_eq!(
            check_link_code(&code, ME, PHONE, &[8; 32]),
            Err(LinkCodeError::OtherDevice)
        );
        let first_replaced = format!("1{}", &code[1..]);
        for bad in [
            "",
            "ABCD",
            &code[..code.len() - 1],
            &format!("{code}A"),
            &first_replaced,
        ] {
            assert_eq!(
                check_link_code(bad, ME, PHONE, &PHONE_KEY),
                Err(LinkCodeError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_secret_is_never_shown_and_survives_the_sealed_state() {
        let mine = secret(0x5C);
        assert_eq!(format!("{mine:?}"), "LinkSecret(<redacted>)");
        let json = serde_json::to_string(&mine).unwrap();
        let back: LinkSecret = serde_json::from_str(&json).unwrap();
        assert_eq!(back, mine);
        assert!(serde_json::from_str::<LinkSecret>("\"AAAA\"").is_err());
    }
}
