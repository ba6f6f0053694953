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
use e2ee_crypto::{DeviceStatement, KeyOperation, KeySize, KeyStatement, PrivateKey};
use e2ee_protocol::{
    DeviceCertificateView, DeviceView, KeyEndorsementView, KeyStatus, KeyView, PublicKeyResponse,
};
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
                contacts.follow_rotation(user_id, &listing, step.at);
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
    assert!(count >= 9, "the corpus holds the trust scenarios ({count})");
}

// ---- generation ----

struct User {
    user_id: String,
    keys: Vec<(PrivateKey, KeyStatus, i64, Option<i64>)>,
    /// Listed endorsements, by the id of the endorsed key.
    endorsements: BTreeMap<String, KeyEndorsementView>,
}

impl User {
    fn new(user_id: &str, keys: Vec<(PrivateKey, KeyStatus, i64, Option<i64>)>) -> User {
        User {
            user_id: user_id.to_owned(),
            keys,
            endorsements: BTreeMap::new(),
        }
    }

    /// Lists `keys[key]` as endorsed by `keys[endorser]` at `at` (a rotation `keys rotate` made).
    fn endorse(&mut self, key: usize, endorser: usize, at: u64) {
        let view = endorsement(&self.user_id, &self.keys[endorser].0, &self.keys[key].0, at);
        self.endorsements
            .insert(self.keys[key].0.key_id().to_string(), view);
    }
}

/// `endorser`'s signature over the `register` statement of `key` at `at`, as the server lists it.
fn endorsement(
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
        key_id: endorser.key_id().to_string(),
        created_at: at,
        signature: STANDARD.encode(statement.sign(endorser).unwrap()),
    }
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
            username: None,
            key_id: view.key_id.clone(),
            fingerprint: view.fingerprint.clone(),
            bits: 2048,
            public_key: view.public_key.clone(),
            created_at: 0,
            keys: Some(
                self.keys
                    .iter()
                    .map(|(key, status, created, retired)| {
                        let mut view = key_view(key, *status, *created, *retired);
                        view.endorsement = self.endorsements.get(&view.key_id).cloned();
                        view
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
        status: e2ee_protocol::DeviceStatus::Active,
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

/// A device listing step's expected decisions: (step index, trusted device ids, (refused id, reason)).
type DeviceCheck = (usize, Vec<&'static str>, Vec<(&'static str, &'static str)>);
/// A contact step's expected pinned key: (step index, key id).
type PinCheck = (usize, String);
type Generated = Vec<(Scenario, Vec<DeviceCheck>, Vec<PinCheck>)>;

fn key() -> PrivateKey {
    PrivateKey::generate(KeySize::Rsa2048).unwrap()
}

fn key_id(key: &PrivateKey) -> String {
    key.key_id().to_string()
}

/// Rotation chains: a new active key is followed only if the pinned key signed it (directly or link by link),
/// before this device saw the pinned key replaced.
fn rotation_scenarios(bob_id: &str, scenarios: &mut Generated) {
    // (a) Bob rotates with `keys rotate`: the pinned key signed the new one, which is followed silently.
    {
        let mut bob = User::new(bob_id, vec![(key(), KeyStatus::Active, 1_000, None)]);
        let laptop = device(bob_id, "laptop", &bob.keys[0].0, 2_000);
        let step0 = keys_step(3_000, &bob);
        bob.keys[0].1 = KeyStatus::Retired;
        bob.keys[0].3 = Some(4_000);
        bob.keys.push((key(), KeyStatus::Active, 4_000, None));
        bob.endorse(1, 0, 4_000);
        let late = device(bob_id, "late", &bob.keys[0].0, 6_000);
        let tablet = device(bob_id, "tablet", &bob.keys[1].0, 4_500);
        let scenario = Scenario {
            format: FORMAT.into(),
            name: "rotation-signed-by-the-pinned-key-is-followed".into(),
            finding: Some("N2".into()),
            description: "Bob's pinned key signed his new key's registration at 4000 (keys rotate). The \
                          listing seen at 5000 carries that endorsement: the new key is pinned without a key \
                          change, its device counts, and the old key vouches for certificates issued before \
                          4000 only."
                .into(),
            steps: vec![
                step0,
                keys_step(5_000, &bob),
                devices_step(5_001, bob_id, vec![laptop, late, tablet]),
                contact_step(5_002, bob_id),
            ],
        };
        let pinned = key_id(&bob.keys[1].0);
        scenarios.push((
            scenario,
            vec![(
                2,
                vec!["laptop", "tablet"],
                vec![("late", "issued_after_retirement")],
            )],
            vec![(3, pinned)],
        ));
    }

    // (b) The new active key is endorsed, but by a key of the server's own (listed as retired), not by the
    // pinned key.
    {
        let mut bob = User::new(bob_id, vec![(key(), KeyStatus::Active, 1_000, None)]);
        let laptop = device(bob_id, "laptop", &bob.keys[0].0, 2_000);
        let step0 = keys_step(3_000, &bob);
        bob.keys[0].1 = KeyStatus::Retired;
        bob.keys[0].3 = Some(4_000);
        bob.keys
            .push((key(), KeyStatus::Retired, 4_000, Some(4_100)));
        bob.keys.push((key(), KeyStatus::Active, 4_100, None));
        bob.endorse(2, 1, 4_100);
        let ghost = device(bob_id, "ghost", &bob.keys[1].0, 4_050);
        let tablet = device(bob_id, "tablet", &bob.keys[2].0, 4_500);
        let scenario = Scenario {
            format: FORMAT.into(),
            name: "rotation-endorsed-by-another-key-is-a-key-change".into(),
            finding: Some("N2".into()),
            description: "Bob's new active key carries a valid endorsement, but by a key the server made \
                          (listed as retired), not by the key this device pinned: a key change. The pin stays, \
                          and devices certified by the new or the server's key are refused."
                .into(),
            steps: vec![
                step0,
                keys_step(5_000, &bob),
                devices_step(5_001, bob_id, vec![laptop, ghost, tablet]),
                contact_step(5_002, bob_id),
            ],
        };
        let pinned = key_id(&bob.keys[0].0);
        scenarios.push((
            scenario,
            vec![(
                2,
                vec!["laptop"],
                vec![
                    ("ghost", "untrusted_issuer"),
                    ("tablet", "untrusted_issuer"),
                ],
            )],
            vec![(3, pinned)],
        ));
    }

    // (c) The endorsement names the pinned key, but its signature is not over this registration.
    {
        let mut bob = User::new(bob_id, vec![(key(), KeyStatus::Active, 1_000, None)]);
        let step0 = keys_step(3_000, &bob);
        bob.keys[0].1 = KeyStatus::Retired;
        bob.keys[0].3 = Some(4_000);
        bob.keys.push((key(), KeyStatus::Active, 4_000, None));
        bob.endorse(1, 0, 4_000);
        // A genuine signature by the pinned key, but over another time: it does not verify for 4000.
        let other_time = endorsement(bob_id, &bob.keys[0].0, &bob.keys[1].0, 3_999);
        let new_id = key_id(&bob.keys[1].0);
        if let Some(listed) = bob.endorsements.get_mut(&new_id) {
            listed.signature = other_time.signature;
        }
        let tablet = device(bob_id, "tablet", &bob.keys[1].0, 4_500);
        let scenario = Scenario {
            format: FORMAT.into(),
            name: "rotation-with-a-bad-endorsement-signature-is-a-key-change".into(),
            finding: Some("N2".into()),
            description: "Bob's new active key is listed as endorsed by the pinned key at 4000, but the \
                          signature does not verify over that statement (it is the pinned key's signature over \
                          another time): a key change, and the new key's device is refused."
                .into(),
            steps: vec![
                step0,
                keys_step(5_000, &bob),
                devices_step(5_001, bob_id, vec![tablet]),
                contact_step(5_002, bob_id),
            ],
        };
        let pinned = key_id(&bob.keys[0].0);
        scenarios.push((
            scenario,
            vec![(2, vec![], vec![("tablet", "untrusted_issuer")])],
            vec![(3, pinned)],
        ));
    }

    // (d) Two rotations while this device was away: first → second at 4000, second → third at 6000.
    {
        let mut bob = User::new(bob_id, vec![(key(), KeyStatus::Active, 1_000, None)]);
        let laptop = device(bob_id, "laptop", &bob.keys[0].0, 2_000);
        let step0 = keys_step(3_000, &bob);
        bob.keys[0].1 = KeyStatus::Retired;
        bob.keys[0].3 = Some(4_000);
        bob.keys
            .push((key(), KeyStatus::Retired, 4_000, Some(6_000)));
        bob.keys.push((key(), KeyStatus::Active, 6_000, None));
        bob.endorse(1, 0, 4_000);
        bob.endorse(2, 1, 6_000);
        let phone = device(bob_id, "phone", &bob.keys[1].0, 5_000);
        let late = device(bob_id, "late", &bob.keys[1].0, 6_500);
        let tablet = device(bob_id, "tablet", &bob.keys[2].0, 6_500);
        let scenario = Scenario {
            format: FORMAT.into(),
            name: "rotation-chain-of-two-steps-is-followed".into(),
            finding: Some("N2".into()),
            description: "Bob rotated twice while this device was away (4000, 6000); the listing seen at 7000 \
                          endorses each key by the one before. The chain from the pinned key is followed: the \
                          newest key is pinned, and each older key vouches for certificates issued before it \
                          signed the next one."
                .into(),
            steps: vec![
                step0,
                keys_step(7_000, &bob),
                devices_step(7_001, bob_id, vec![laptop, phone, late, tablet]),
                contact_step(7_002, bob_id),
            ],
        };
        let pinned = key_id(&bob.keys[2].0);
        scenarios.push((
            scenario,
            vec![(
                2,
                vec!["laptop", "phone", "tablet"],
                vec![("late", "issued_after_retirement")],
            )],
            vec![(3, pinned)],
        ));
    }

    // (e) A retired pinned key that signs later: this device saw it replaced (by an unendorsed key) at 5000;
    // an endorsement it made at 6000 (e.g. with a stolen old key) is not followed.
    {
        let mut bob = User::new(bob_id, vec![(key(), KeyStatus::Active, 1_000, None)]);
        let step0 = keys_step(3_000, &bob);
        bob.keys[0].1 = KeyStatus::Retired;
        bob.keys[0].3 = Some(4_000);
        bob.keys.push((key(), KeyStatus::Active, 4_000, None));
        let step1 = keys_step(5_000, &bob);
        bob.keys[1].1 = KeyStatus::Retired;
        bob.keys[1].3 = Some(6_000);
        bob.keys.push((key(), KeyStatus::Active, 6_000, None));
        bob.endorse(2, 0, 6_000);
        let tablet = device(bob_id, "tablet", &bob.keys[2].0, 6_500);
        let scenario = Scenario {
            format: FORMAT.into(),
            name: "rotation-signed-after-the-pin-was-seen-replaced-is-a-key-change".into(),
            finding: Some("N2".into()),
            description: "This device saw Bob's pinned key replaced (by a key it did not sign) at 5000. A \
                          later key endorsed by the pinned key at 6000 is a key change: a retired key signs no \
                          rotation after this device saw it stop being current."
                .into(),
            steps: vec![
                step0,
                step1,
                keys_step(7_000, &bob),
                devices_step(7_001, bob_id, vec![tablet]),
                contact_step(7_002, bob_id),
            ],
        };
        let pinned = key_id(&bob.keys[0].0);
        scenarios.push((
            scenario,
            vec![(3, vec![], vec![("tablet", "untrusted_issuer")])],
            vec![(4, pinned)],
        ));
    }
}

/// Builds each scenario's inputs, lets the core decide, and writes the scenario with those decisions after
/// checking the ones each scenario exists for (so a regenerated corpus cannot record a wrong rule).
fn write_generated() {
    let bob_id = "u_0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";
    let mut scenarios: Generated = Vec::new();

    // N2: the server lists a "retired" key of its own beside Bob's active key, and a device certified by it.
    {
        let (active, ghost) = (key(), key());
        let bob = User::new(
            bob_id,
            vec![
                (active, KeyStatus::Active, 1_000, None),
                (ghost, KeyStatus::Retired, 500, Some(900)),
            ],
        );
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
            vec![],
        ));
    }

    // A pinned key that the server later lists as retired vouches only for certificates from before this
    // device saw it retired; the new key vouches once accepted.
    {
        let (first, second) = (key(), key());
        let mut bob = User::new(bob_id, vec![(first, KeyStatus::Active, 1_000, None)]);
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
            vec![],
        ));
    }

    // Forged or unusable certificates.
    {
        let (active, other) = (key(), key());
        let bob = User::new(bob_id, vec![(active, KeyStatus::Active, 1_000, None)]);
        let good = device(bob_id, "good", &bob.keys[0].0, 1_500);
        let mut forged = device(bob_id, "forged", &bob.keys[0].0, 1_500);
        forged.signature_key = STANDARD.encode([7u8; 32]);
        let mut pending = device(bob_id, "pending", &bob.keys[0].0, 1_500);
        pending.status = e2ee_protocol::DeviceStatus::Pending;
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
            vec![],
        ));
    }

    // The server drops Bob's pinned key from the listing (or lists another active key): devices it certifies
    // from then on do not count, and the issuer must be listed to verify at all.
    {
        let (pinned, substitute) = (key(), key());
        let bob = User::new(bob_id, vec![(pinned, KeyStatus::Active, 1_000, None)]);
        let old = device(bob_id, "old", &bob.keys[0].0, 1_500);
        let new = device(bob_id, "new", &bob.keys[0].0, 9_000);
        let swapped = User::new(bob_id, vec![(substitute, KeyStatus::Active, 8_000, None)]);
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
            vec![],
        ));
    }

    rotation_scenarios(bob_id, &mut scenarios);

    std::fs::create_dir_all(corpus_dir()).unwrap();
    for (mut scenario, checks, pins) in scenarios {
        let decided = replay(&scenario);
        for (index, pinned) in pins {
            let Action::Contact { expect, .. } = &decided[index].action else {
                panic!("step {index} of {} is not a contact step", scenario.name);
            };
            assert_eq!(
                expect.pinned_key_id, pinned,
                "{}: step {index}: the pinned key",
                scenario.name
            );
        }
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
