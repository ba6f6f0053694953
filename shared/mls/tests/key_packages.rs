//! Key packages made by a real openmls client, checked as the Delivery Service checks uploads.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

use std::time::{SystemTime, UNIX_EPOCH};

use e2ee_mls::{CIPHERSUITE, DeviceIdentity, MAX_LIFETIME_SECONDS, MlsError, validate_key_package};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A device of a client: its provider, signature key pair and credential.
struct Device {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
}

fn device(identity: &[u8], ciphersuite: Ciphersuite) -> Device {
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(ciphersuite.signature_algorithm()).unwrap();
    let credential = CredentialWithKey {
        credential: BasicCredential::new(identity.to_vec()).into(),
        signature_key: signer.public().into(),
    };
    Device {
        provider,
        signer,
        credential,
    }
}

fn upload(device: &Device, ciphersuite: Ciphersuite, builder: KeyPackageBuilder) -> Vec<u8> {
    let bundle = builder
        .build(
            ciphersuite,
            &device.provider,
            &device.signer,
            device.credential.clone(),
        )
        .unwrap();
    MlsMessageOut::from(bundle.key_package().clone())
        .to_bytes()
        .unwrap()
}

fn alice_laptop() -> DeviceIdentity {
    DeviceIdentity::new("u_alice", "laptop").unwrap()
}

#[test]
fn a_valid_package_is_reduced_to_what_the_store_keeps() {
    let laptop = device(b"u_alice/laptop", CIPHERSUITE);
    let message = upload(&laptop, CIPHERSUITE, KeyPackage::builder());
    let valid = validate_key_package(&message, &alice_laptop(), now()).unwrap();
    assert_eq!(valid.message, message);
    assert_eq!(valid.signature_key, laptop.signer.public());
    assert_eq!(valid.key_package_ref.len(), 32, "SHA-256 reference");
    assert!(valid.not_after > now());
    assert!(!valid.last_resort);

    let last_resort = upload(
        &laptop,
        CIPHERSUITE,
        KeyPackage::builder()
            .leaf_node_capabilities(Capabilities::new(
                None,
                None,
                Some(&[ExtensionType::LastResort]),
                None,
                None,
            ))
            .mark_as_last_resort(),
    );
    let valid_last = validate_key_package(&last_resort, &alice_laptop(), now()).unwrap();
    assert!(valid_last.last_resort);
    assert_ne!(valid_last.key_package_ref, valid.key_package_ref);
}

#[test]
fn a_package_naming_another_user_or_device_is_refused() {
    for (identity, found) in [
        (&b"u_mallory/laptop"[..], "u_mallory/laptop"),
        (b"u_alice/phone", "u_alice/phone"),
    ] {
        let other = device(identity, CIPHERSUITE);
        let message = upload(&other, CIPHERSUITE, KeyPackage::builder());
        assert_eq!(
            validate_key_package(&message, &alice_laptop(), now()),
            Err(MlsError::WrongIdentity {
                expected: "u_alice/laptop".into(),
                found: found.into(),
            })
        );
    }
    let unnamed = device(b"alice", CIPHERSUITE);
    let message = upload(&unnamed, CIPHERSUITE, KeyPackage::builder());
    assert!(matches!(
        validate_key_package(&message, &alice_laptop(), now()),
        Err(MlsError::InvalidCredential(_))
    ));
}

#[test]
fn other_ciphersuites_are_refused_with_their_number() {
    let suite = Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256;
    let laptop = device(b"u_alice/laptop", suite);
    let message = upload(&laptop, suite, KeyPackage::builder());
    assert_eq!(
        validate_key_package(&message, &alice_laptop(), now()),
        Err(MlsError::UnsupportedCiphersuite(0x0002))
    );
}

#[test]
fn expired_future_and_overlong_lifetimes_are_refused() {
    let laptop = device(b"u_alice/laptop", CIPHERSUITE);
    let t = now();
    let with = |not_before, not_after| {
        upload(
            &laptop,
            CIPHERSUITE,
            KeyPackage::builder().key_package_lifetime(Lifetime::init(not_before, not_after)),
        )
    };
    // Valid for the server's policy at its clock, though openmls' own check (at the system clock) differs:
    // the server's `now` decides.
    let valid_now = with(t - 60, t + 3600);
    assert!(validate_key_package(&valid_now, &alice_laptop(), t).is_ok());
    assert!(matches!(
        validate_key_package(&valid_now, &alice_laptop(), t + 7200),
        Err(MlsError::Lifetime(_))
    ));
    assert!(matches!(
        validate_key_package(&valid_now, &alice_laptop(), t - 3600),
        Err(MlsError::Lifetime(_))
    ));
    // Already expired at the system clock: openmls refuses it too.
    assert!(matches!(
        validate_key_package(&with(t - 7200, t - 3600), &alice_laptop(), t),
        Err(MlsError::Lifetime(_))
    ));
    // Longer than the policy allows (as ts-mls' "never expires" default is).
    assert!(matches!(
        validate_key_package(&with(t - 60, t + MAX_LIFETIME_SECONDS), &alice_laptop(), t),
        Err(MlsError::Lifetime(_))
    ));
}

#[test]
fn tampered_truncated_and_foreign_messages_are_refused() {
    let laptop = device(b"u_alice/laptop", CIPHERSUITE);
    let message = upload(&laptop, CIPHERSUITE, KeyPackage::builder());
    // The last bytes are the package signature: flipping one breaks it.
    let mut tampered = message.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(matches!(
        validate_key_package(&tampered, &alice_laptop(), now()),
        Err(MlsError::InvalidKeyPackage(_))
    ));
    assert!(matches!(
        validate_key_package(&message[..message.len() - 1], &alice_laptop(), now()),
        Err(MlsError::Malformed { .. })
    ));
    let mut trailing = message.clone();
    trailing.push(0);
    assert!(matches!(
        validate_key_package(&trailing, &alice_laptop(), now()),
        Err(MlsError::Malformed { .. })
    ));
    assert!(matches!(
        validate_key_package(&vec![0; 20_000], &alice_laptop(), now()),
        Err(MlsError::Malformed { .. })
    ));
    // The same bytes under another wire format (bytes 2..4 of an MLSMessage; 4 is mls_group_info).
    let mut other_kind = message.clone();
    other_kind[3] = 4;
    assert!(matches!(
        validate_key_package(&other_kind, &alice_laptop(), now()),
        Err(MlsError::Malformed { .. })
    ));
}
