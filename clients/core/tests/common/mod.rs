//! Fixtures shared by the core's integration tests and the vector generator: identity keys, their listings as
//! the server answers them, rotation endorsements, and MLS devices in memory.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_crypto::{KeyOperation, KeySize, KeyStatement, PrivateKey};
use e2ee_protocol::{KeyEndorsementView, KeyStatus, KeyView, PublicKeyResponse};

/// An MLS device in memory: its identity, its openmls provider and signature key. Each test file adds the
/// methods it needs (`impl common::Client`).
pub struct Client {
    pub identity: e2ee_mls::DeviceIdentity,
    pub provider: openmls_rust_crypto::OpenMlsRustCrypto,
    pub signer: openmls_basic_credential::SignatureKeyPair,
}

impl Client {
    pub fn new(user: &str, device: &str) -> Client {
        let provider = openmls_rust_crypto::OpenMlsRustCrypto::default();
        let signer = openmls_basic_credential::SignatureKeyPair::new(
            e2ee_mls::CIPHERSUITE.signature_algorithm(),
        )
        .unwrap();
        signer
            .store(openmls_traits::OpenMlsProvider::storage(&provider))
            .unwrap();
        Client {
            identity: e2ee_mls::DeviceIdentity::new(user, device).unwrap(),
            provider,
            signer,
        }
    }
}

/// A fresh 2048-bit identity key.
pub fn key() -> PrivateKey {
    PrivateKey::generate(KeySize::Rsa2048).unwrap()
}

pub fn key_id(key: &PrivateKey) -> String {
    key.key_id().to_string()
}

/// `endorser`'s signature over the `register` statement of `key` at `at`, as the server lists it (a rotation
/// `e2ee keys rotate` made).
pub fn endorsement(
    user_id: &str,
    endorser: &PrivateKey,
    key: &PrivateKey,
    at: u64,
) -> KeyEndorsementView {
    let statement = KeyStatement {
        operation: KeyOperation::Register,
        user_id,
        key_id: key.key_id(),
        created_at: at,
    };
    KeyEndorsementView {
        key_id: key_id(endorser),
        created_at: at,
        signature: STANDARD.encode(statement.sign(endorser).unwrap()),
    }
}

/// `key` as a listing shows it (a revoked key was revoked just after its creation).
pub fn key_view(
    key: &PrivateKey,
    status: KeyStatus,
    created_at: i64,
    retired_at: Option<i64>,
) -> KeyView {
    KeyView {
        key_id: key_id(key),
        fingerprint: key.key_id().fingerprint(),
        bits: 2048,
        public_key: key.public_key().to_spki_pem().unwrap(),
        status,
        created_at,
        retired_at,
        revoked_at: (status == KeyStatus::Revoked).then_some(created_at + 1),
        endorsement: None,
    }
}

/// The answer of `GET /api/crypto/public-key/{userId}?all=true`: `active` on top, `keys` in full.
pub fn listing_answer(user_id: &str, active: &PrivateKey, keys: Vec<KeyView>) -> PublicKeyResponse {
    PublicKeyResponse {
        user_id: user_id.to_owned(),
        username: None,
        key_id: key_id(active),
        fingerprint: active.key_id().fingerprint(),
        bits: 2048,
        public_key: active.public_key().to_spki_pem().unwrap(),
        created_at: 0,
        keys: Some(keys),
    }
}
