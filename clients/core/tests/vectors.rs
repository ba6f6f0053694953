//! The adversarial corpus of `tests/vectors/client/` (format in its README): every scenario is replayed
//! through the core — what the server answered, step by step — and the core's decisions must be exactly the
//! ones the scenario records. `E2EE_WRITE_VECTORS=1 cargo test -p e2ee-client-core --test vectors` writes the
//! generated scenarios again (fresh keys and signatures; the decisions must not change).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_client_core::contacts::Contacts;
use e2ee_client_core::devices::check_device;
use e2ee_client_core::directory::Directory;
use e2ee_crypto::{DeviceStatement, KeySize, PrivateKey};
use e2ee_protocol::{DeviceCertificateView, DeviceView, KeyStatus, KeyView, PublicKeyResponse};
use serde::{Deserialize, Serialize};

const FORMAT: &str = "e2ee.client-vector.v1";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Scenario {
    format: String,
    name: String,
    /// The review finding it covers, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finding: Option<String>,
    description: String,
    steps: Vec<Step>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Step {
    /// The device's clock (ms since the epoch).
    at: i64,
    #[serde(flatten)]
    action: Action,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
enum Action {
    /// The server's answer to `GET /api/crypto/public-key/{userId}?all=true`.
    Keys {
        user_id: String,
        answer: PublicKeyResponse,
    },
    /// The server's device listing of a user, and which devices the client must trust (the others refused,
    /// with the reason).
    Devices {
        user_id: String,
        answer: Vec<DeviceView>,
        expect: DeviceDecisions,
    },
    /// The user compared fingerprints and accepted the contact's key `keyId` (from the last listing).
    Accept { user_id: String, key_id: String },
    /// What the client must show for the contact.
    Contact {
        user_id: String,
        expect: ContactExpect,
    },
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeviceDecisions {
    trusted: Vec<String>,
    refused: BTreeMap<String, String>,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ContactExpect {
    pinned_key_id: String,
    trusted_key_ids: Vec<String>,
    safety_number: String,
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/client")
}

/// Replays a scenario; returns the decisions the core made, in the scenario's own form (so a generated
/// scenario records them and a stored one is compared with them).
fn replay(scenario: &Scenario) -> Vec<Step> {
    let mut contacts = Contacts::default();
    let mut listings: BTreeMap<String, Directory> = BTreeMap::new();
    let mut decided = Vec::new();
    for step in &scenario.steps {
        let action = match &step.action {
            Action::Keys { user_id, answer } => {
                let listing = Directory::from_listing(answer);
                contacts.observe_listing(user_id, &listing, step.at);
                contacts.pin_active_on_first_use(user_id, "", &listing, step.at);
                listings.insert(user_id.clone(), listing);
                Action::Keys {
                    user_id: user_id.clone(),
                    answer: answer.clone(),
                }
            }
            Action::Devices {
                user_id, answer, ..
            } => {
                let listing = listings.get(user_id).cloned().unwrap_or_default();
                let mut trusted = Vec::new();
                let mut refused = BTreeMap::new();
                for device in answer {
                    let vouching = |issuer: &str| contacts.get(user_id)?.lifetime(issuer);
                    match check_device(user_id, device, &listing, vouching) {
                        Ok(certified) => trusted.push(certified.device_id),
                        Err(reason) => {
                            refused.insert(device.device_id.clone(), reason.as_str().to_owned());
                        }
                    }
                }
                Action::Devices {
                    user_id: user_id.clone(),
                    answer: answer.clone(),
                    expect: DeviceDecisions { trusted, refused },
                }
            }
            Action::Accept { user_id, key_id } => {
                let listing = &listings[user_id];
                let key = listing.key(key_id).expect("accepted key is in the listing");
                contacts.accept(
                    user_id,
                    "",
                    key_id,
                    &key.key.key_id().fingerprint(),
                    step.at,
                );
                Action::Accept {
                    user_id: user_id.clone(),
                    key_id: key_id.clone(),
                }
            }
            Action::Contact { user_id, .. } => {
                let contact = contacts.get(user_id).expect("a pinned contact");
                Action::Contact {
                    user_id: user_id.clone(),
                    expect: ContactExpect {
                        pinned_key_id: contact.key_id.clone(),
                        trusted_key_ids: contact
                            .trusted_key_ids()
                            .into_iter()
                            .map(str::to_owned)
                            .collect(),
                        safety_number: contact.safety_number(),
                    },
                }
            }
        };
        decided.push(Step {
            at: step.at,
            action,
        });
    }
    decided
}

#[test]
fn every_client_vector_replays_to_the_recorded_decisions() {
    if std::env::var_os("E2EE_WRITE_VECTORS").is_some() {
        write_generated();
    }
    let mut count = 0;
    for entry in std::fs::read_dir(corpus_dir()).expect("tests/vectors/client") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let scenario: Scenario =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).expect("a scenario");
        if !scenario.steps.iter().any(|s| {
            matches!(
                s.action,
                Action::Keys { .. }
                    | Action::Devices { .. }
                    | Action::Accept { .. }
                    | Action::Contact { .. }
            )
        }) {
            continue;
        }
        assert_eq!(scenario.format, FORMAT, "{}", path.display());
        let decided = replay(&scenario);
        for (index, (stored, made)) in scenario.steps.iter().zip(&decided).enumerate() {
            assert_eq!(
                serde_json::to_value(stored).unwrap(),
                serde_json::to_value(made).unwrap(),
                "{}: step {index} decided differently",
                scenario.name
            );
        }
        count += 1;
    }
    assert!(count >= 4, "the corpus holds the trust scenarios ({count})");
}

// ---- generation ----

struct User {
    user_id: String,
    keys: Vec<(PrivateKey, KeyStatus, i64, Option<i64>)>,
}

fn key_view(
    key: &PrivateKey,
    status: KeyStatus,
    created_at: i64,
    retired_at: Option<i64>,
) -> KeyView {
    let public = key.public_key();
    KeyView {
        key_id: key.key_id().to_string(),
        fingerprint: key.key_id().fingerprint(),
        bits: 2048,
        public_key: public.to_spki_pem().unwrap(),
        status,
        created_at,
        retired_at,
        revoked_at: (status == KeyStatus::Revoked).then_some(created_at + 1),
        endorsement: None,
    }
}

impl User {
    fn listing(&self) -> PublicKeyResponse {
        let (active, ..) = self
            .keys
            .iter()
            .find(|(_, status, ..)| *status == KeyStatus::Active)
            .expect("an active key");
        let view = key_view(active, KeyStatus::Active, 0, None);
        PublicKeyResponse {
            user_id: self.user_id.clone(),
            key_id: view.key_id.clone(),
            fingerprint: view.fingerprint.clone(),
            bits: 2048,
            public_key: view.public_key.clone(),
            created_at: 0,
            keys: Some(
                self.keys
                    .iter()
                    .map(|(key, status, created, retired)| {
                        key_view(key, *status, *created, *retired)
                    })
                    .collect(),
            ),
        }
    }
}

fn device(user_id: &str, device_id: &str, issuer: &PrivateKey, issued_at: u64) -> DeviceView {
    // A stable, distinct 32-byte "signature key" per device (the trust rules never parse it).
    let signature_key: Vec<u8> = (0..32u8)
        .map(|i| i ^ device_id.bytes().fold(0u8, |a, b| a.wrapping_add(b)))
        .collect();
    let statement = DeviceStatement {
        user_id,
        device_id,
        signature_key: &signature_key,
        issuer_key_id: issuer.key_id(),
        created_at: issued_at,
    };
    DeviceView {
        user_id: user_id.to_owned(),
        device_id: device_id.to_owned(),
        display_name: device_id.to_owned(),
        signature_key: STANDARD.encode(&signature_key),
        status: "active".into(),
        certificate: Some(DeviceCertificateView {
            issuer_key_id: issuer.key_id().to_string(),
            issued_at,
            signature: STANDARD.encode(statement.sign(issuer).unwrap()),
        }),
        created_at: i64::try_from(issued_at).unwrap(),
        approved_at: None,
        revoked_at: None,
    }
}

fn keys_step(at: i64, user: &User) -> Step {
    Step {
        at,
        action: Action::Keys {
            user_id: user.user_id.clone(),
            answer: user.listing(),
        },
    }
}

fn devices_step(at: i64, user_id: &str, answer: Vec<DeviceView>) -> Step {
    Step {
        at,
        action: Action::Devices {
            user_id: user_id.to_owned(),
            answer,
            expect: DeviceDecisions {
                trusted: Vec::new(),
                refused: BTreeMap::new(),
            },
        },
    }
}

fn contact_step(at: i64, user_id: &str) -> Step {
    Step {
        at,
        action: Action::Contact {
            user_id: user_id.to_owned(),
            expect: ContactExpect {
                pinned_key_id: String::new(),
                trusted_key_ids: Vec::new(),
                safety_number: String::new(),
            },
        },
    }
}

/// Builds each scenario's inputs, lets the core decide, and writes the scenario with those decisions after
/// checking the ones each scenario exists for (so a regenerated corpus cannot record a wrong rule).
fn write_generated() {
    let key = || PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let bob_id = "u_0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";
    let mut scenarios = Vec::new();

    // N2: the server lists a "retired" key of its own beside Bob's active key, and a device certified by it.
    {
        let (active, ghost) = (key(), key());
        let bob = User {
            user_id: bob_id.into(),
            keys: vec![
                (active, KeyStatus::Active, 1_000, None),
                (ghost, KeyStatus::Retired, 500, Some(900)),
            ],
        };
        let phone = device(bob_id, "phone", &bob.keys[0].0, 1_500);
        let ghost_device = device(bob_id, "ghost", &bob.keys[1].0, 800);
        let scenario = Scenario {
            format: FORMAT.into(),
            name: "n2-ghost-retired-key-at-first-contact".into(),
            finding: Some("N2".into()),
            description: "First contact with Bob: the server lists his active key and a retired key it made \
                          itself, and a device certified by that retired key. Only the active key is pinned; \
                          the ghost device is refused and the safety number covers the active key alone."
                .into(),
            steps: vec![
                keys_step(10_000, &bob),
                devices_step(10_001, bob_id, vec![phone, ghost_device]),
                contact_step(10_002, bob_id),
            ],
        };
        scenarios.push((
            scenario,
            vec![(1, vec!["phone"], vec![("ghost", "untrusted_issuer")])],
        ));
    }

    // A pinned key that the server later lists as retired vouches only for certificates from before this
    // device saw it retired; the new key vouches once accepted.
    {
        let (first, second) = (key(), key());
        let mut bob = User {
            user_id: bob_id.into(),
            keys: vec![(first, KeyStatus::Active, 1_000, None)],
        };
        let laptop = device(bob_id, "laptop", &bob.keys[0].0, 2_000);
        let step0 = keys_step(3_000, &bob);
        bob.keys[0].1 = KeyStatus::Retired;
        bob.keys[0].3 = Some(4_000);
        bob.keys.push((second, KeyStatus::Active, 4_000, None));
        let late = device(bob_id, "late", &bob.keys[0].0, 6_000);
        let tablet = device(bob_id, "tablet", &bob.keys[1].0, 4_500);
        let scenario = Scenario {
            format: FORMAT.into(),
            name: "n2-retired-key-vouches-only-before-its-retirement".into(),
            finding: Some("N2".into()),
            description: "Bob's pinned key is later listed as retired (seen at 5000) beside a new active key. \
                          A certificate by the old key issued at 2000 still counts, one issued at 6000 does \
                          not, and a device certified by the new key counts only after the user accepts it."
                .into(),
            steps: vec![
                step0,
                keys_step(5_000, &bob),
                devices_step(5_001, bob_id, vec![laptop.clone(), late.clone(), tablet.clone()]),
                Step {
                    at: 7_000,
                    action: Action::Accept {
                        user_id: bob_id.into(),
                        key_id: bob.keys[1].0.key_id().to_string(),
                    },
                },
                devices_step(7_001, bob_id, vec![laptop, late, tablet]),
                contact_step(7_002, bob_id),
            ],
        };
        scenarios.push((
            scenario,
            vec![
                (
                    2,
                    vec!["laptop"],
                    vec![
                        ("late", "issued_after_retirement"),
                        ("tablet", "untrusted_issuer"),
                    ],
                ),
                (
                    4,
                    vec!["laptop", "tablet"],
                    vec![("late", "issued_after_retirement")],
                ),
            ],
        ));
    }

    // Forged or unusable certificates.
    {
        let (active, other) = (key(), key());
        let bob = User {
            user_id: bob_id.into(),
            keys: vec![(active, KeyStatus::Active, 1_000, None)],
        };
        let good = device(bob_id, "good", &bob.keys[0].0, 1_500);
        let mut forged = device(bob_id, "forged", &bob.keys[0].0, 1_500);
        forged.signature_key = STANDARD.encode([7u8; 32]);
        let mut pending = device(bob_id, "pending", &bob.keys[0].0, 1_500);
        pending.status = "pending".into();
        let mut uncertified = device(bob_id, "bare", &bob.keys[0].0, 1_500);
        uncertified.certificate = None;
        let mut elsewhere = device(bob_id, "moved", &bob.keys[0].0, 1_500);
        elsewhere.user_id = "u_ma11ory0000000000000000000000000".into();
        let stranger = device(bob_id, "stranger", &other, 1_500);
        let scenario = Scenario {
            format: FORMAT.into(),
            name: "device-certificates-that-do-not-count".into(),
            finding: None,
            description: "A signature over another signature key, a pending device, a device without a \
                          certificate, a device listed under another user, and one certified by a key that is \
                          not Bob's: only the properly certified device is trusted."
                .into(),
            steps: vec![
                keys_step(2_000, &bob),
                devices_step(
                    2_001,
                    bob_id,
                    vec![good, forged, pending, uncertified, elsewhere, stranger],
                ),
            ],
        };
        scenarios.push((
            scenario,
            vec![(
                1,
                vec!["good"],
                vec![
                    ("forged", "bad_signature"),
                    ("pending", "not_active"),
                    ("bare", "no_certificate"),
                    ("moved", "not_active"),
                    ("stranger", "untrusted_issuer"),
                ],
            )],
        ));
    }

    // The server drops Bob's pinned key from the listing (or lists another active key): devices it certifies
    // from then on do not count, and the issuer must be listed to verify at all.
    {
        let (pinned, substitute) = (key(), key());
        let bob = User {
            user_id: bob_id.into(),
            keys: vec![(pinned, KeyStatus::Active, 1_000, None)],
        };
        let old = device(bob_id, "old", &bob.keys[0].0, 1_500);
        let new = device(bob_id, "new", &bob.keys[0].0, 9_000);
        let swapped = User {
            user_id: bob_id.into(),
            keys: vec![(substitute, KeyStatus::Active, 8_000, None)],
        };
        let scenario = Scenario {
            format: FORMAT.into(),
            name: "pinned-key-missing-from-the-listing".into(),
            finding: Some("N2".into()),
            description: "After first contact the server lists only a substitute active key. The pinned key \
                          is not in the listing, so nothing it certified can be verified; and it is recorded \
                          as replaced at the moment this device saw the substitute."
                .into(),
            steps: vec![
                keys_step(2_000, &bob),
                keys_step(8_500, &swapped),
                devices_step(8_501, bob_id, vec![old, new]),
                contact_step(8_502, bob_id),
            ],
        };
        scenarios.push((
            scenario,
            vec![(
                2,
                vec![],
                vec![
                    ("old", "issuer_not_listed"),
                    ("new", "issued_after_retirement"),
                ],
            )],
        ));
    }

    std::fs::create_dir_all(corpus_dir()).unwrap();
    for (mut scenario, checks) in scenarios {
        let decided = replay(&scenario);
        for (index, trusted, refused) in checks {
            let Action::Devices { expect, .. } = &decided[index].action else {
                panic!("step {index} of {} is not a device listing", scenario.name);
            };
            assert_eq!(
                *expect,
                DeviceDecisions {
                    trusted: trusted.into_iter().map(str::to_owned).collect(),
                    refused: refused
                        .into_iter()
                        .map(|(d, r)| (d.to_owned(), r.to_owned()))
                        .collect(),
                },
                "{}: step {index}",
                scenario.name
            );
        }
        scenario.steps = decided;
        let path = corpus_dir().join(format!("{}.json", scenario.name));
        let mut json = serde_json::to_string_pretty(&scenario).unwrap();
        json.push('\n');
        std::fs::write(path, json).unwrap();
    }
}
