//! A real openmls device of a test user: its signature key, the device certificate its user's identity key
//! issues, the session proof, and key packages as a client uploads them.

use e2ee_crypto::{DeviceRevocation, DeviceStatement, PrivateKey};
use e2ee_protocol::device_session_input;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use openmls_traits::signatures::Signer;
use serde_json::{Value, json};

use crate::{b64, now_ms};

pub use openmls::prelude::Ciphersuite;

pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

pub struct TestDevice {
    pub user_id: String,
    pub device_id: String,
    pub provider: OpenMlsRustCrypto,
    pub signer: SignatureKeyPair,
    pub credential: CredentialWithKey,
}

impl TestDevice {
    /// A device whose credential names `user_id/device_id`.
    pub fn new(user_id: &str, device_id: &str) -> Self {
        Self::with_identity(
            user_id,
            device_id,
            format!("{user_id}/{device_id}").as_bytes(),
        )
    }

    /// A device of `user_id/device_id` whose credential says `identity` (to forge a mismatch).
    pub fn with_identity(user_id: &str, device_id: &str, identity: &[u8]) -> Self {
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
        let credential = CredentialWithKey {
            credential: BasicCredential::new(identity.to_vec()).into(),
            signature_key: signer.public().into(),
        };
        TestDevice {
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            provider: OpenMlsRustCrypto::default(),
            signer,
            credential,
        }
    }

    pub fn signature_key(&self) -> Vec<u8> {
        self.signer.public().to_vec()
    }

    /// The certificate JSON (`{issuerKeyId, issuedAt, signature}`) by `identity` for this device's key.
    pub fn certificate(&self, identity: &PrivateKey) -> Value {
        certificate_for(
            &self.user_id,
            &self.device_id,
            &self.signature_key(),
            identity,
        )
    }

    /// A `POST /api/devices` body, certified by `identity` when given.
    pub fn registration(&self, identity: Option<&PrivateKey>) -> Value {
        let mut body = json!({
            "deviceId": self.device_id,
            "displayName": format!("{} device", self.device_id),
            "signatureKey": b64(&self.signature_key()),
        });
        if let Some(identity) = identity {
            body["certificate"] = self.certificate(identity);
        }
        body
    }

    /// A `POST /api/devices/session` body signed now.
    pub fn session_request(&self) -> Value {
        let created_at = now_ms();
        let signed = device_session_input(&self.user_id, &self.device_id, created_at);
        json!({
            "deviceId": self.device_id,
            "createdAt": created_at,
            "signature": b64(&self.signer.sign(&signed).unwrap()),
        })
    }

    /// A one-time key package as an `MLSMessage` (the bytes a client uploads).
    pub fn key_package(&self) -> Vec<u8> {
        self.build(KeyPackage::builder())
    }

    /// A last-resort key package (its leaf lists the extension among its capabilities, as RFC 9420 requires).
    pub fn last_resort_key_package(&self) -> Vec<u8> {
        let capabilities =
            Capabilities::new(None, None, Some(&[ExtensionType::LastResort]), None, None);
        self.build(
            KeyPackage::builder()
                .leaf_node_capabilities(capabilities)
                .mark_as_last_resort(),
        )
    }

    /// A key package of this device's identity in another ciphersuite (with a signature key of that suite).
    pub fn key_package_in(&self, ciphersuite: Ciphersuite) -> Vec<u8> {
        let signer = SignatureKeyPair::new(ciphersuite.signature_algorithm()).unwrap();
        let credential = CredentialWithKey {
            credential: self.credential.credential.clone(),
            signature_key: signer.public().into(),
        };
        self.build_with(KeyPackage::builder(), ciphersuite, &signer, credential)
    }

    pub fn build(&self, builder: KeyPackageBuilder) -> Vec<u8> {
        self.build_with(builder, CIPHERSUITE, &self.signer, self.credential.clone())
    }

    fn build_with(
        &self,
        builder: KeyPackageBuilder,
        ciphersuite: Ciphersuite,
        signer: &SignatureKeyPair,
        credential: CredentialWithKey,
    ) -> Vec<u8> {
        let bundle = builder
            .build(ciphersuite, &self.provider, signer, credential)
            .unwrap();
        MlsMessageOut::from(bundle.key_package().clone())
            .to_bytes()
            .unwrap()
    }
}

/// A certificate JSON by `identity` over `(user_id, device_id, signature_key)`, issued now.
pub fn certificate_for(
    user_id: &str,
    device_id: &str,
    signature_key: &[u8],
    identity: &PrivateKey,
) -> Value {
    let issued_at = now_ms();
    let statement = DeviceStatement {
        user_id,
        device_id,
        signature_key,
        issuer_key_id: identity.key_id(),
        created_at: issued_at,
    };
    json!({
        "issuerKeyId": identity.key_id().to_string(),
        "issuedAt": issued_at,
        "signature": b64(&statement.sign(identity).unwrap()),
    })
}

/// A `POST /api/devices/revoke` body for `user_id`'s device `device_id`, signed now by `identity` (the
/// user's active identity key, docs/security.md).
pub fn revocation(user_id: &str, device_id: &str, identity: &PrivateKey) -> Value {
    let created_at = now_ms();
    let statement = DeviceRevocation {
        user_id,
        device_id,
        created_at,
    };
    json!({
        "deviceId": device_id,
        "createdAt": created_at,
        "authorization": {
            "keyId": identity.key_id().to_string(),
            "signature": b64(&statement.sign(identity).unwrap()),
        },
    })
}

/// How the test clients create groups: ciphersuite 0x0001, handshake messages as `PublicMessage` (the Delivery
/// Service validates them), application messages as `PrivateMessage`.
pub fn group_config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .build()
}

/// The TLS encoding of the group's ratchet tree (what `POST /api/groups` takes beside the GroupInfo).
pub fn ratchet_tree(group: &MlsGroup) -> Vec<u8> {
    use openmls::prelude::tls_codec::Serialize as _;
    group
        .export_ratchet_tree()
        .tls_serialize_detached()
        .unwrap()
}

impl TestDevice {
    /// A new group of this device alone (epoch 0).
    pub fn new_group(&self) -> MlsGroup {
        MlsGroup::new(
            &self.provider,
            &self.signer,
            &group_config(),
            self.credential.clone(),
        )
        .unwrap()
    }

    /// The group's current GroupInfo signed by this device, as an `MLSMessage`.
    pub fn group_info(&self, group: &MlsGroup) -> Vec<u8> {
        group
            .export_group_info(self.provider.crypto(), &self.signer, false)
            .unwrap()
            .to_bytes()
            .unwrap()
    }

    /// A one-time key package, parsed (for adding this device locally).
    pub fn key_package_object(&self) -> KeyPackage {
        KeyPackage::builder()
            .build(
                CIPHERSUITE,
                &self.provider,
                &self.signer,
                self.credential.clone(),
            )
            .unwrap()
            .key_package()
            .clone()
    }
}

impl TestDevice {
    /// Rejoins a group by external commit with a fresh state, as after losing it (openmls replaces the leaf
    /// of this signature key): the merged group and the commit (an `MLSMessage`).
    pub fn rejoin(&mut self, group_info: &[u8], ratchet_tree: &[u8]) -> (MlsGroup, Vec<u8>) {
        use openmls::prelude::tls_codec::DeserializeBytes as _;
        self.provider = OpenMlsRustCrypto::default();
        let MlsMessageBodyIn::GroupInfo(info) =
            MlsMessageIn::tls_deserialize_exact_bytes(group_info)
                .unwrap()
                .extract()
        else {
            panic!("not a GroupInfo");
        };
        let join = MlsGroupJoinConfig::builder()
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build();
        let (mut group, bundle) = MlsGroup::external_commit_builder()
            .with_ratchet_tree(RatchetTreeIn::tls_deserialize_exact_bytes(ratchet_tree).unwrap())
            .with_config(join)
            .build_group(&self.provider, info, self.credential.clone())
            .unwrap()
            .load_psks(self.provider.storage())
            .unwrap()
            .build(
                self.provider.rand(),
                self.provider.crypto(),
                &self.signer,
                |_| true,
            )
            .unwrap()
            .finalize(&self.provider)
            .unwrap();
        group.merge_pending_commit(&self.provider).unwrap();
        let (commit, _, _) = bundle.into_contents();
        (group, commit.to_bytes().unwrap())
    }
}

impl TestDevice {
    /// What a server could make on its own: a commit for epoch `epoch` of group `group_id`, framed as if from
    /// leaf 0 under this device's credential, in a group of the same id that it built alone (so signed with a
    /// key no member has and tagged with a membership key it cannot know).
    pub fn forged_commit(&self, group_id: &[u8], epoch: u64) -> Vec<u8> {
        let mut group = MlsGroup::builder()
            .with_group_id(GroupId::from_slice(group_id))
            .ciphersuite(CIPHERSUITE)
            .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build(&self.provider, &self.signer, self.credential.clone())
            .unwrap();
        for _ in 0..epoch {
            group
                .self_update(&self.provider, &self.signer, LeafNodeParameters::default())
                .unwrap();
            group.merge_pending_commit(&self.provider).unwrap();
        }
        let bundle = group
            .self_update(&self.provider, &self.signer, LeafNodeParameters::default())
            .unwrap();
        bundle.into_commit().to_bytes().unwrap()
    }
}
