//! Device certificates (docs/mls.md, "Device certificates"): a user's identity key — the RSA key registered in
//! the key directory — vouches that one of the user's devices signs MLS messages with a given signature key.
//! Members accept a device into a group only under such a certificate, checked against the identity key they
//! pinned, so a server cannot add a device of its own.

use crate::encoding::Canonical;
use crate::error::{CryptoError, Result};
use crate::hazmat;
use crate::keyop::verify_statement;
use crate::keys::{KeyId, PrivateKey, PublicKey};

const DEVICE_CERT_CONTEXT: &[u8] = b"e2ee.device-cert.v1";
pub use e2ee_protocol::ids::{MAX_DEVICE_ID_BYTES, MAX_SIGNATURE_KEY_BYTES, is_device_id};

/// "`user_id`'s device `device_id` signs MLS messages with `signature_key`, says identity key `issuer_key_id`
/// at `created_at`". The signed bytes are
/// `field("e2ee.device-cert.v1") || field(userId) || field(deviceId) || field(signatureKey) ||
/// field(issuerKeyId hex) || u64(createdAt)`, with `field(b) = u32be(len(b)) || b`, as in docs/envelope.md.
#[derive(Debug, Clone, Copy)]
pub struct DeviceStatement<'a> {
    pub user_id: &'a str,
    /// See [`is_device_id`].
    pub device_id: &'a str,
    /// The device's MLS signature public key, as the MLS credential carries it (raw bytes).
    pub signature_key: &'a [u8],
    /// The identity key that signs the certificate.
    pub issuer_key_id: KeyId,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
}

impl DeviceStatement<'_> {
    /// Checks the shape of the statement's fields (the signature is checked by [`Self::verify`]).
    pub fn check(&self) -> Result<()> {
        if !is_device_id(self.device_id) {
            return Err(CryptoError::InvalidInput(format!(
                "deviceId must be 1 to {MAX_DEVICE_ID_BYTES} of A-Z a-z 0-9 _ -"
            )));
        }
        // The id rule of docs/envelope.md.
        if self.user_id.is_empty()
            || self.user_id.len() > crate::MAX_ID_BYTES
            || self.user_id.chars().any(|c| c.is_ascii_control())
        {
            return Err(CryptoError::InvalidInput(format!(
                "userId must be 1 to {} bytes without control characters",
                crate::MAX_ID_BYTES
            )));
        }
        if self.signature_key.is_empty() || self.signature_key.len() > MAX_SIGNATURE_KEY_BYTES {
            return Err(CryptoError::InvalidInput(format!(
                "signatureKey must be 1 to {MAX_SIGNATURE_KEY_BYTES} bytes"
            )));
        }
        Ok(())
    }

    /// The exact bytes that are signed.
    pub fn signing_input(&self) -> Vec<u8> {
        let issuer = self.issuer_key_id.to_string();
        let mut out = Canonical::with_capacity(
            96 + self.user_id.len() + self.device_id.len() + self.signature_key.len(),
        );
        out.field(DEVICE_CERT_CONTEXT)
            .field(self.user_id.as_bytes())
            .field(self.device_id.as_bytes())
            .field(self.signature_key)
            .field(issuer.as_bytes())
            .u64(self.created_at);
        out.into_bytes()
    }

    /// RSA-PSS (SHA-256, 32-byte salt) by the identity key over [`Self::signing_input`]. The key must be the
    /// issuer the statement names.
    pub fn sign(&self, identity_key: &PrivateKey) -> Result<Vec<u8>> {
        self.check()?;
        if identity_key.key_id() != self.issuer_key_id {
            return Err(CryptoError::InvalidInput(
                "the signing key is not the statement's issuer".into(),
            ));
        }
        hazmat::pss_sign(identity_key, &self.signing_input())
    }

    /// Verifies a certificate against the identity key the verifier trusts for this user. A malformed
    /// statement, another issuer, or a signature that does not verify are all [`CryptoError::BadSignature`].
    pub fn verify(&self, identity_key: &PublicKey, signature: &[u8]) -> Result<()> {
        if self.check().is_err() || identity_key.key_id() != self.issuer_key_id {
            return Err(CryptoError::BadSignature);
        }
        verify_statement(identity_key, &self.signing_input(), signature)
    }
}

const DEVICE_LINK_CONTEXT: &[u8] = b"e2ee.device-link.v1";
/// Bytes of a link secret (`e2ee device request` makes one; the user carries it to the approving device in the
/// link code).
pub const LINK_SECRET_BYTES: usize = 16;
/// Bytes of a link proof (HMAC-SHA256).
pub const LINK_PROOF_BYTES: usize = 32;

/// "The device that holds the link secret approved `user_id`'s device `device_id` with signature key
/// `signature_key` under identity key `issuer_key_id`, certificate issued at `issued_at`" (docs/mls.md,
/// "Linking a device"). The proof is `HMAC-SHA256(link secret, field("e2ee.device-link.v1") || field(userId) ||
/// field(deviceId) || field(signatureKey) || field(issuerKeyId hex) || u64(issuedAt))`: the approving device
/// learnt the secret from the user (the link code), the server never sees it, so a proof the new device
/// verifies tells it which identity key its approver holds, whatever key the server lists.
#[derive(Debug, Clone, Copy)]
pub struct DeviceLink<'a> {
    pub user_id: &'a str,
    pub device_id: &'a str,
    pub signature_key: &'a [u8],
    pub issuer_key_id: KeyId,
    /// The certificate's `issuedAt` (ms since the epoch).
    pub issued_at: u64,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

impl DeviceLink<'_> {
    /// The exact bytes that are MACed.
    pub fn input(&self) -> Vec<u8> {
        let issuer = self.issuer_key_id.to_string();
        let mut out = Canonical::with_capacity(
            96 + self.user_id.len() + self.device_id.len() + self.signature_key.len(),
        );
        out.field(DEVICE_LINK_CONTEXT)
            .field(self.user_id.as_bytes())
            .field(self.device_id.as_bytes())
            .field(self.signature_key)
            .field(issuer.as_bytes())
            .u64(self.issued_at);
        out.into_bytes()
    }

    fn mac(&self, secret: &[u8]) -> Result<HmacSha256> {
        use hmac::{KeyInit as _, Mac as _};
        if secret.len() < LINK_SECRET_BYTES {
            return Err(CryptoError::InvalidInput(format!(
                "a link secret has at least {LINK_SECRET_BYTES} bytes"
            )));
        }
        let mut mac = HmacSha256::new_from_slice(secret)
            .map_err(|_| CryptoError::InvalidInput("link secret".into()))?;
        mac.update(&self.input());
        Ok(mac)
    }

    /// The link proof under `secret`.
    pub fn prove(&self, secret: &[u8]) -> Result<[u8; LINK_PROOF_BYTES]> {
        use hmac::Mac as _;
        Ok(self.mac(secret)?.finalize().into_bytes().into())
    }

    /// Checks a proof in constant time; any mismatch (another secret, statement or a malformed proof) is
    /// [`CryptoError::BadSignature`].
    pub fn verify(&self, secret: &[u8], proof: &[u8]) -> Result<()> {
        use hmac::Mac as _;
        self.mac(secret)
            .map_err(|_| CryptoError::BadSignature)?
            .verify_slice(proof)
            .map_err(|_| CryptoError::BadSignature)
    }
}

const DEVICE_REVOKE_CONTEXT: &[u8] = b"e2ee.device-revoke.v1";

/// "`user_id` revokes their device `device_id` at `created_at`", signed by the user's active identity key to
/// authorize `POST /api/devices/revoke` (docs/security.md, "Revoking a device needs the identity key"). The
/// signed bytes are `field("e2ee.device-revoke.v1") || field(userId) || field(deviceId) || u64(createdAt)`.
#[derive(Debug, Clone, Copy)]
pub struct DeviceRevocation<'a> {
    pub user_id: &'a str,
    /// See [`is_device_id`].
    pub device_id: &'a str,
    /// Milliseconds since the Unix epoch; the server requires it within 5 minutes of its clock.
    pub created_at: u64,
}

impl DeviceRevocation<'_> {
    /// The exact bytes that are signed.
    pub fn signing_input(&self) -> Vec<u8> {
        let mut out = Canonical::with_capacity(48 + self.user_id.len() + self.device_id.len());
        out.field(DEVICE_REVOKE_CONTEXT)
            .field(self.user_id.as_bytes())
            .field(self.device_id.as_bytes())
            .u64(self.created_at);
        out.into_bytes()
    }

    /// RSA-PSS (SHA-256, 32-byte salt) by the identity key over [`Self::signing_input`].
    pub fn sign(&self, identity_key: &PrivateKey) -> Result<Vec<u8>> {
        if !is_device_id(self.device_id) {
            return Err(CryptoError::InvalidInput(format!(
                "deviceId must be 1 to {MAX_DEVICE_ID_BYTES} of A-Z a-z 0-9 _ -"
            )));
        }
        hazmat::pss_sign(identity_key, &self.signing_input())
    }

    /// Any failure (another key, another statement, a malformed signature) is [`CryptoError::BadSignature`].
    pub fn verify(&self, identity_key: &PublicKey, signature: &[u8]) -> Result<()> {
        verify_statement(identity_key, &self.signing_input(), signature)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::keys::KeySize;

    fn statement<'a>(key: &PrivateKey, signature_key: &'a [u8]) -> DeviceStatement<'a> {
        DeviceStatement {
            user_id: "u_alice",
            device_id: "laptop-1",
            signature_key,
            issuer_key_id: key.key_id(),
            created_at: 1_764_145_653_000,
        }
    }

    #[test]
    fn signing_input_is_the_documented_encoding() {
        let key = PrivateKey::generate(KeySize::Rsa2048).unwrap();
        let input = statement(&key, &[7; 32]).signing_input();
        let mut expected = Vec::new();
        let issuer = key.key_id().to_string();
        for field in [
            &b"e2ee.device-cert.v1"[..],
            b"u_alice",
            b"laptop-1",
            &[7; 32],
            issuer.as_bytes(),
        ] {
            expected.extend_from_slice(&(field.len() as u32).to_be_bytes());
            expected.extend_from_slice(field);
        }
        expected.extend_from_slice(&1_764_145_653_000u64.to_be_bytes());
        assert_eq!(input, expected);
    }

    #[test]
    fn certificates_verify_only_for_what_was_signed_and_by_whom() {
        let alice = PrivateKey::generate(KeySize::Rsa2048).unwrap();
        let mallory = PrivateKey::generate(KeySize::Rsa2048).unwrap();
        let key = [7u8; 32];
        let signed = statement(&alice, &key);
        let signature = signed.sign(&alice).unwrap();
        signed.verify(alice.public_key(), &signature).unwrap();

        // Another device, another signature key, another user, another time: each breaks the signature.
        let other_key = [8u8; 32];
        let changed = [
            DeviceStatement {
                device_id: "phone",
                ..signed
            },
            DeviceStatement {
                signature_key: &other_key,
                ..signed
            },
            DeviceStatement {
                user_id: "u_mallory",
                ..signed
            },
            DeviceStatement {
                created_at: 1,
                ..signed
            },
        ];
        for statement in changed {
            assert_eq!(
                statement.verify(alice.public_key(), &signature),
                Err(CryptoError::BadSignature)
            );
        }
        // Mallory's key is not Alice's identity: it cannot issue, and Alice's certificate does not verify
        // under it.
        assert!(signed.sign(&mallory).is_err());
        assert_eq!(
            signed.verify(mallory.public_key(), &signature),
            Err(CryptoError::BadSignature)
        );
        let forged = DeviceStatement {
            issuer_key_id: mallory.key_id(),
            ..signed
        };
        let forged_signature = forged.sign(&mallory).unwrap();
        assert_eq!(
            forged.verify(alice.public_key(), &forged_signature),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            signed.verify(alice.public_key(), &signature[..100]),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn malformed_statements_are_refused() {
        let alice = PrivateKey::generate(KeySize::Rsa2048).unwrap();
        let key = [7u8; 32];
        let good = statement(&alice, &key);
        let long_id = "d".repeat(MAX_DEVICE_ID_BYTES + 1);
        let huge_key = vec![1u8; MAX_SIGNATURE_KEY_BYTES + 1];
        for bad in [
            DeviceStatement {
                device_id: "",
                ..good
            },
            DeviceStatement {
                device_id: &long_id,
                ..good
            },
            DeviceStatement {
                device_id: "a/b",
                ..good
            },
            DeviceStatement {
                device_id: "lap top",
                ..good
            },
            DeviceStatement {
                user_id: "",
                ..good
            },
            DeviceStatement {
                user_id: "u_\n",
                ..good
            },
            DeviceStatement {
                signature_key: &[],
                ..good
            },
            DeviceStatement {
                signature_key: &huge_key,
                ..good
            },
        ] {
            assert!(
                matches!(bad.check(), Err(CryptoError::InvalidInput(_))),
                "{bad:?}"
            );
            assert!(bad.sign(&alice).is_err());
        }
    }

    #[test]
    fn revocations_are_the_documented_encoding_and_bind_user_device_and_time() {
        let alice = PrivateKey::generate(KeySize::Rsa2048).unwrap();
        let mallory = PrivateKey::generate(KeySize::Rsa2048).unwrap();
        let revocation = DeviceRevocation {
            user_id: "u_alice",
            device_id: "laptop-1",
            created_at: 1_764_145_653_000,
        };
        let mut expected = Vec::new();
        for field in [&b"e2ee.device-revoke.v1"[..], b"u_alice", b"laptop-1"] {
            expected.extend_from_slice(&(field.len() as u32).to_be_bytes());
            expected.extend_from_slice(field);
        }
        expected.extend_from_slice(&1_764_145_653_000u64.to_be_bytes());
        assert_eq!(revocation.signing_input(), expected);

        let signature = revocation.sign(&alice).unwrap();
        revocation.verify(alice.public_key(), &signature).unwrap();
        for changed in [
            DeviceRevocation {
                device_id: "phone",
                ..revocation
            },
            DeviceRevocation {
                user_id: "u_mallory",
                ..revocation
            },
            DeviceRevocation {
                created_at: 1,
                ..revocation
            },
        ] {
            assert_eq!(
                changed.verify(alice.public_key(), &signature),
                Err(CryptoError::BadSignature)
            );
        }
        assert_eq!(
            revocation.verify(mallory.public_key(), &signature),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            revocation.verify(alice.public_key(), &signature[..10]),
            Err(CryptoError::BadSignature)
        );
        let bad_id = DeviceRevocation {
            device_id: "a/b",
            ..revocation
        };
        assert!(bad_id.sign(&alice).is_err());
    }

    #[test]
    fn link_proofs_are_the_documented_hmac_and_bind_every_field() {
        use hmac::{KeyInit as _, Mac as _};
        let alice = PrivateKey::generate(KeySize::Rsa2048).unwrap();
        let other = PrivateKey::generate(KeySize::Rsa2048).unwrap();
        let secret = [9u8; LINK_SECRET_BYTES];
        let key = [7u8; 32];
        let link = DeviceLink {
            user_id: "u_alice",
            device_id: "phone",
            signature_key: &key,
            issuer_key_id: alice.key_id(),
            issued_at: 1_764_145_653_000,
        };
        let mut expected = Vec::new();
        let issuer = alice.key_id().to_string();
        for field in [
            &b"e2ee.device-link.v1"[..],
            b"u_alice",
            b"phone",
            &[7; 32],
            issuer.as_bytes(),
        ] {
            expected.extend_from_slice(&(field.len() as u32).to_be_bytes());
            expected.extend_from_slice(field);
        }
        expected.extend_from_slice(&1_764_145_653_000u64.to_be_bytes());
        assert_eq!(link.input(), expected);
        let mut mac = HmacSha256::new_from_slice(&secret).unwrap();
        mac.update(&expected);
        let proof = link.prove(&secret).unwrap();
        assert_eq!(proof.to_vec(), mac.finalize().into_bytes().to_vec());
        link.verify(&secret, &proof).unwrap();

        let other_key = [8u8; 32];
        for changed in [
            DeviceLink {
                device_id: "ghost",
                ..link
            },
            DeviceLink {
                user_id: "u_mallory",
                ..link
            },
            DeviceLink {
                signature_key: &other_key,
                ..link
            },
            DeviceLink {
                issuer_key_id: other.key_id(),
                ..link
            },
            DeviceLink {
                issued_at: 1,
                ..link
            },
        ] {
            assert_eq!(
                changed.verify(&secret, &proof),
                Err(CryptoError::BadSignature)
            );
        }
        assert_eq!(
            link.verify(&[1u8; LINK_SECRET_BYTES], &proof),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            link.verify(&secret, &proof[..31]),
            Err(CryptoError::BadSignature)
        );
        assert!(link.prove(&[1u8; 8]).is_err(), "a short secret");
    }
}
