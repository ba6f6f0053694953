//! The adversarial corpus of `tests/vectors/client/` (format in its README): every scenario is replayed
//! through the core — what the server answered, step by step — and the core's decisions must be exactly the
//! ones the scenario records. `E2EE_WRITE_VECTORS=1 cargo test -p e2ee-client-core --test vectors` writes the
//! generated scenarios again (fresh keys and signatures; the decisions must not change).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{endorsement, key, key_id, key_view, listing_answer};
use e2ee_client_core::commits::{PendingCommit, Resolution};
use e2ee_client_core::contacts::Contacts;
use e2ee_client_core::devices::{CertifiedDevice, check_device, is_listed};
use e2ee_client_core::directory::Directory;
use e2ee_client_core::welcome::{WelcomeRefusal, check_opened};
use e2ee_crypto::{DeviceStatement, PrivateKey};
use e2ee_mls::DeviceIdentity;
use e2ee_protocol::{
    DeviceCertificateView, DeviceView, KeyEndorsementView, KeyStatus, PublicKeyResponse,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

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
    /// A Welcome in this device's inbox: whether it joins, or why not and whether the refusal is final.
    Welcome {
        /// This device.
        me: DeviceRef,
        /// The group id (hex) the server labelled the Welcome with.
        labelled_group_id: String,
        /// When the server stored the Welcome (ms since the epoch).
        stored_at: i64,
        /// The groups (hex ids) this device holds.
        held: Vec<String>,
        /// What decrypting the Welcome gave; `null`: this device cannot read it.
        opened: Option<OpenedWelcome>,
        expect: WelcomeExpect,
    },
    /// This device's pending commit (saved before posting, its answer lost) against the log rows read since.
    Commit {
        pending: PendingCommit,
        log: Vec<LogRow>,
        /// Whether the rows end the log (the last page has no `nextAfter`).
        log_complete: bool,
        expect: CommitExpect,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeviceRef {
    user_id: String,
    device_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OpenedWelcome {
    /// The group id (hex) the Welcome's GroupInfo names.
    group_id: String,
    /// The members of the Welcome's ratchet tree, in tree order.
    members: Vec<WelcomeMember>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WelcomeMember {
    user_id: String,
    device_id: String,
    /// The leaf's signature key, base64 (as `signatureKey` in a device listing).
    signature_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WelcomeExpect {
    joined: bool,
    /// The refusal's code, when not joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refused: Option<String>,
    /// For `untrusted_member`: the first member (tree order) this device does not trust, `userId/deviceId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    member: Option<String>,
    /// When not joined: whether the refusal is final at `at` (the Welcome is acknowledged and leaves the inbox).
    #[serde(rename = "final", default, skip_serializing_if = "Option::is_none")]
    is_final: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LogRow {
    /// `commit` or `message`, as the log row's `kind`.
    kind: String,
    epoch: u64,
    /// SHA-256 (lowercase hex) of the row's `message` bytes.
    sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CommitExpect {
    /// `keep`, `merge` or `drop`.
    resolution: String,
    /// The index of the row that decided; absent when no row did (the end of the log decided, or nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    row: Option<usize>,
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
    // The devices of each user trusted at that user's last device listing.
    let mut certified: BTreeMap<String, Vec<CertifiedDevice>> = BTreeMap::new();
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
                let mut devices = Vec::new();
                for device in answer {
                    let vouching = |issuer: &str| contacts.get(user_id)?.lifetime(issuer);
                    match check_device(user_id, device, &listing, vouching) {
                        Ok(device) => {
                            trusted.push(device.device_id.clone());
                            devices.push(device);
                        }
                        Err(reason) => {
                            refused.insert(device.device_id.clone(), reason.as_str().to_owned());
                        }
                    }
                }
                certified.insert(user_id.clone(), devices);
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
            Action::Welcome {
                me,
                labelled_group_id,
                stored_at,
                held,
                opened,
                ..
            } => {
                let me_id = DeviceIdentity::new(&me.user_id, &me.device_id).expect("me");
                let decision = match opened {
                    None => Err(WelcomeRefusal::Unreadable("not readable".into())),
                    Some(opened) => {
                        welcome_decision(opened, labelled_group_id, held, &me_id, &certified)
                    }
                };
                let expect = match decision {
                    Ok(()) => WelcomeExpect {
                        joined: true,
                        refused: None,
                        member: None,
                        is_final: None,
                    },
                    Err(refusal) => WelcomeExpect {
                        joined: false,
                        refused: Some(refusal.code().to_owned()),
                        member: match &refusal {
                            WelcomeRefusal::UntrustedMember { member } => Some(member.clone()),
                            _ => None,
                        },
                        is_final: Some(refusal.is_final(*stored_at, step.at)),
                    },
                };
                Action::Welcome {
                    me: me.clone(),
                    labelled_group_id: labelled_group_id.clone(),
                    stored_at: *stored_at,
                    held: held.clone(),
                    opened: opened.clone(),
                    expect,
                }
            }
            Action::Commit {
                pending,
                log,
                log_complete,
                ..
            } => {
                let settled = log.iter().enumerate().find_map(|(index, row)| {
                    match pending.resolve_digest(row.kind == "commit", row.epoch, &row.sha256) {
                        Resolution::Keep => None,
                        decided => Some((decided, Some(index))),
                    }
                });
                let (resolution, row) =
                    settled.unwrap_or((pending.at_end_of_log(*log_complete), None));
                let resolution = match resolution {
                    Resolution::Keep => "keep",
                    Resolution::Merge => "merge",
                    Resolution::Drop => "drop",
                };
                Action::Commit {
                    pending: pending.clone(),
                    log: log.clone(),
                    log_complete: *log_complete,
                    expect: CommitExpect {
                        resolution: resolution.into(),
                        row,
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

/// The core's checks of a Welcome this device could read (`check_opened`: the group, then every member against
/// the devices trusted at their users' last listings, matched by device id and signature key).
fn welcome_decision(
    opened: &OpenedWelcome,
    labelled: &str,
    held: &[String],
    me: &DeviceIdentity,
    certified: &BTreeMap<String, Vec<CertifiedDevice>>,
) -> Result<(), WelcomeRefusal> {
    let members: Vec<(DeviceIdentity, Vec<u8>)> = opened
        .members
        .iter()
        .map(|m| {
            let identity = DeviceIdentity::new(&m.user_id, &m.device_id).expect("a member");
            (identity, STANDARD.decode(&m.signature_key).expect("base64"))
        })
        .collect();
    let trusted = |identity: &DeviceIdentity, key: &[u8]| {
        certified
            .get(&identity.user_id)
            .is_some_and(|devices| is_listed(devices, identity, key))
    };
    check_opened(
        labelled,
        &opened.group_id,
        |group| held.iter().any(|h| h == group),
        members
            .iter()
            .map(|(identity, key)| (identity, key.as_slice())),
        me,
        trusted,
    )
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
    assert!(
        count >= 15,
        "the corpus holds the trust, Welcome and commit scenarios ({count})"
    );
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

impl User {
    fn listing(&self) -> PublicKeyResponse {
        let (active, ..) = self
            .keys
            .iter()
            .find(|(_, status, ..)| *status == KeyStatus::Active)
            .expect("an active key");
        let keys = self
            .keys
            .iter()
            .map(|(key, status, created, retired)| {
                let mut view = key_view(key, *status, *created, *retired);
                view.endorsement = self.endorsements.get(&view.key_id).cloned();
                view
            })
            .collect();
        listing_answer(&self.user_id, active, keys)
    }
}

/// A stable, distinct 32-byte "signature key" per device id (the trust rules never parse it).
fn signature_key(device_id: &str) -> Vec<u8> {
    (0..32u8)
        .map(|i| i ^ device_id.bytes().fold(0u8, |a, b| a.wrapping_add(b)))
        .collect()
}

fn device(user_id: &str, device_id: &str, issuer: &PrivateKey, issued_at: u64) -> DeviceView {
    let signature_key = signature_key(device_id);
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
        link_proof: None,
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
    welcome_scenarios(bob_id, &mut scenarios);
    commit_scenarios(&mut scenarios);

    std::fs::create_dir_all(corpus_dir()).unwrap();
    for (mut scenario, checks, pins) in scenarios {
        let decided = replay(&scenario);
        // Welcome and commit steps are written with the decision they exist for: the core must make it.
        for (index, (written, made)) in scenario.steps.iter().zip(&decided).enumerate() {
            if matches!(
                written.action,
                Action::Welcome { .. } | Action::Commit { .. }
            ) {
                assert_eq!(
                    serde_json::to_value(written).unwrap(),
                    serde_json::to_value(made).unwrap(),
                    "{}: step {index}",
                    scenario.name
                );
            }
        }
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

const ALICE: &str = "u_a11ce0a11ce0a11ce0a11ce0a11ce0a1";
const GROUP: &str = "9a0c5e1f2b3d4c5e6f708192a3b4c5d6";
const OTHER_GROUP: &str = "0d1e2f30415263748596a7b8c9dae0f1";
const WEEK_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// This device: Alice's laptop.
fn alice_laptop() -> DeviceRef {
    DeviceRef {
        user_id: ALICE.into(),
        device_id: "laptop".into(),
    }
}

/// A member of a Welcome's tree with the signature key the device listing of [`device`] carries.
fn member(user_id: &str, device_id: &str) -> WelcomeMember {
    WelcomeMember {
        user_id: user_id.into(),
        device_id: device_id.into(),
        signature_key: STANDARD.encode(signature_key(device_id)),
    }
}

fn opened(group_id: &str, members: Vec<WelcomeMember>) -> Option<OpenedWelcome> {
    Some(OpenedWelcome {
        group_id: group_id.into(),
        members,
    })
}

fn joined() -> WelcomeExpect {
    WelcomeExpect {
        joined: true,
        refused: None,
        member: None,
        is_final: None,
    }
}

fn refused(code: &str, member: Option<String>, is_final: bool) -> WelcomeExpect {
    WelcomeExpect {
        joined: false,
        refused: Some(code.into()),
        member,
        is_final: Some(is_final),
    }
}

/// A Welcome labelled `GROUP`, stored at `stored_at`, seen at `at` by Alice's laptop holding `held`.
fn welcome_step(
    at: i64,
    stored_at: i64,
    held: &[&str],
    opened: Option<OpenedWelcome>,
    expect: WelcomeExpect,
) -> Step {
    Step {
        at,
        action: Action::Welcome {
            me: alice_laptop(),
            labelled_group_id: GROUP.into(),
            stored_at,
            held: held.iter().map(|g| (*g).to_owned()).collect(),
            opened,
            expect,
        },
    }
}

/// Welcomes (review findings N1, N2, N3): which one this device joins, why it refuses the others, and when
/// a refusal is final (the Welcome is acknowledged and leaves the inbox).
fn welcome_scenarios(bob_id: &str, scenarios: &mut Generated) {
    let with_alice = |bob_device: &str| vec![member(bob_id, bob_device), member(ALICE, "laptop")];
    // N1: a Welcome this device cannot read is final at once; the next one is joined.
    {
        let bob = User::new(bob_id, vec![(key(), KeyStatus::Active, 1_000, None)]);
        let phone = device(bob_id, "phone", &bob.keys[0].0, 1_500);
        scenarios.push((
            Scenario {
                format: FORMAT.into(),
                name: "n1-unreadable-welcome-is-final-at-once".into(),
                finding: Some("N1".into()),
                description: "A Welcome this device cannot read (no key package of its own, or not a Welcome at \
                              all) is refused and final at once: it is acknowledged, and it never stops the \
                              sync; the next Welcome, from Bob's certified phone, is joined."
                    .into(),
                steps: vec![
                    welcome_step(10_001, 10_000, &[], None, refused("unreadable", None, true)),
                    keys_step(10_002, &bob),
                    devices_step(10_003, bob_id, vec![phone]),
                    welcome_step(10_004, 10_000, &[], opened(GROUP, with_alice("phone")), joined()),
                ],
            },
            vec![(2, vec!["phone"], vec![])],
            vec![],
        ));
    }

    // N1: a Welcome refused only because a member is not trusted (yet) stays for 7 days, so accepting the
    // contact's new key can still turn it into a join; after 7 days the refusal is final.
    for accepted in [true, false] {
        let mut bob = User::new(bob_id, vec![(key(), KeyStatus::Active, 1_000, None)]);
        let step0 = keys_step(2_000, &bob);
        bob.keys[0].1 = KeyStatus::Retired;
        bob.keys[0].3 = Some(3_000);
        bob.keys.push((key(), KeyStatus::Active, 3_000, None));
        let tablet = device(bob_id, "tablet", &bob.keys[1].0, 3_500);
        let new_key = key_id(&bob.keys[1].0);
        let stored = 5_000;
        let untrusted = |at: i64, is_final: bool| {
            welcome_step(
                at,
                stored,
                &[],
                opened(GROUP, with_alice("tablet")),
                refused(
                    "untrusted_member",
                    Some(format!("{bob_id}/tablet")),
                    is_final,
                ),
            )
        };
        let mut steps = vec![
            step0,
            keys_step(4_000, &bob),
            devices_step(5_001, bob_id, vec![tablet.clone()]),
            untrusted(5_002, false),
        ];
        let (name, description, checks) = if accepted {
            steps.extend([
                untrusted(stored + WEEK_MS - 1, false),
                Step {
                    at: stored + WEEK_MS - 1,
                    action: Action::Accept {
                        user_id: bob_id.into(),
                        key_id: new_key,
                    },
                },
                devices_step(stored + WEEK_MS - 1, bob_id, vec![tablet]),
                welcome_step(
                    stored + WEEK_MS - 1,
                    stored,
                    &[],
                    opened(GROUP, with_alice("tablet")),
                    joined(),
                ),
            ]);
            (
                "n1-untrusted-member-welcome-is-kept-and-joined-after-accepting",
                "Bob changed his key without a rotation chain, and his tablet (certified by the new key) \
                 adds this device. The Welcome is refused for an untrusted member and kept (not final before \
                 7 days after the server stored it). The user accepts Bob's new key within the 7 days: the \
                 same Welcome is joined.",
                vec![
                    (2, vec![], vec![("tablet", "untrusted_issuer")]),
                    (6, vec!["tablet"], vec![]),
                ],
            )
        } else {
            steps.push(untrusted(stored + WEEK_MS, true));
            (
                "n1-untrusted-member-welcome-is-final-after-seven-days",
                "Bob changed his key without a rotation chain, and his tablet (certified by the new key) \
                 adds this device. The Welcome is refused for an untrusted member: not final at first, final \
                 7 days after the server stored it (it is acknowledged and leaves the inbox).",
                vec![(2, vec![], vec![("tablet", "untrusted_issuer")])],
            )
        };
        scenarios.push((
            Scenario {
                format: FORMAT.into(),
                name: name.into(),
                finding: Some("N1".into()),
                description: description.into(),
                steps,
            },
            checks,
            vec![],
        ));
    }

    // N3: the Welcome must name the group the server labelled it with, and one this device does not hold.
    {
        let bob = User::new(bob_id, vec![(key(), KeyStatus::Active, 1_000, None)]);
        let phone = device(bob_id, "phone", &bob.keys[0].0, 1_500);
        scenarios.push((
            Scenario {
                format: FORMAT.into(),
                name: "n3-welcome-for-another-group-or-a-held-one".into(),
                finding: Some("N3".into()),
                description: "Bob's phone is trusted. A Welcome labelled as one group names another: refused \
                              (group_mismatch), final. A Welcome to a group this device holds already would \
                              replace its state: refused (already_held), final, the group unchanged. Both name a \
                              ghost Bob never certified: the group checks come before the member check."
                    .into(),
                steps: vec![
                    keys_step(2_000, &bob),
                    devices_step(2_001, bob_id, vec![phone]),
                    welcome_step(
                        2_002,
                        2_000,
                        &[],
                        opened(OTHER_GROUP, with_alice("ghost")),
                        refused("group_mismatch", None, true),
                    ),
                    welcome_step(
                        2_003,
                        2_000,
                        &[GROUP],
                        opened(GROUP, with_alice("ghost")),
                        refused("already_held", None, true),
                    ),
                    welcome_step(
                        2_004,
                        2_000,
                        &[OTHER_GROUP],
                        opened(GROUP, with_alice("ghost")),
                        refused(
                            "untrusted_member",
                            Some(format!("{bob_id}/ghost")),
                            false,
                        ),
                    ),
                    welcome_step(2_005, 2_000, &[OTHER_GROUP], opened(GROUP, with_alice("phone")), joined()),
                ],
            },
            vec![(1, vec!["phone"], vec![])],
            vec![],
        ));
    }

    // N2: the server's ghost (certified by a "retired" key of its own) in a Welcome's tree.
    {
        let bob = User::new(
            bob_id,
            vec![
                (key(), KeyStatus::Active, 1_000, None),
                (key(), KeyStatus::Retired, 500, Some(900)),
            ],
        );
        let phone = device(bob_id, "phone", &bob.keys[0].0, 1_500);
        let ghost = device(bob_id, "ghost", &bob.keys[1].0, 800);
        let mut swapped = member(bob_id, "phone");
        swapped.signature_key = STANDARD.encode([9u8; 32]);
        scenarios.push((
            Scenario {
                format: FORMAT.into(),
                name: "n2-ghost-member-in-a-welcome".into(),
                finding: Some("N2".into()),
                description: "First contact with Bob lists a retired key the server made and a ghost device \
                              it certified. A Welcome whose tree holds the ghost is refused (untrusted_member, \
                              naming the ghost); so is one whose tree gives Bob's phone another signature key \
                              than its certificate; a Welcome with Bob's phone as certified is joined."
                    .into(),
                steps: vec![
                    keys_step(10_000, &bob),
                    devices_step(10_001, bob_id, vec![phone, ghost]),
                    welcome_step(
                        10_002,
                        10_000,
                        &[],
                        opened(
                            GROUP,
                            vec![
                                member(bob_id, "phone"),
                                member(ALICE, "laptop"),
                                member(bob_id, "ghost"),
                            ],
                        ),
                        refused(
                            "untrusted_member",
                            Some(format!("{bob_id}/ghost")),
                            false,
                        ),
                    ),
                    welcome_step(
                        10_003,
                        10_000,
                        &[],
                        opened(GROUP, vec![swapped, member(ALICE, "laptop")]),
                        refused(
                            "untrusted_member",
                            Some(format!("{bob_id}/phone")),
                            false,
                        ),
                    ),
                    welcome_step(10_004, 10_000, &[], opened(GROUP, with_alice("phone")), joined()),
                ],
            },
            vec![(1, vec!["phone"], vec![("ghost", "untrusted_issuer")])],
            vec![],
        ));
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn row(kind: &str, epoch: u64, message: &[u8]) -> LogRow {
    LogRow {
        kind: kind.into(),
        epoch,
        sha256: sha256(message),
    }
}

fn commit_step(
    at: i64,
    log: Vec<LogRow>,
    log_complete: bool,
    resolution: &str,
    row: Option<usize>,
) -> Step {
    Step {
        at,
        action: Action::Commit {
            pending: PendingCommit::new(4, b"our commit"),
            log,
            log_complete,
            expect: CommitExpect {
                resolution: resolution.into(),
                row,
            },
        },
    }
}

/// Review finding N4: a commit this device posted whose answer was lost (it starts epoch 4), decided by the log.
fn commit_scenarios(scenarios: &mut Generated) {
    let ours = b"our commit".as_slice();
    let theirs = b"their commit".as_slice();
    scenarios.push((
        Scenario {
            format: FORMAT.into(),
            name: "n4-lost-commit-answer-decided-by-the-log".into(),
            finding: Some("N4".into()),
            description: "This device saved its commit (the one that starts epoch 4) before posting it, and \
                          the answer was lost. The log decides: the epoch-4 commit row with the same bytes is \
                          this commit (merge); another commit at epoch 4, or a commit past it, means another \
                          member's commit won (drop, and process that row); messages and older commits do \
                          not decide; a log read to its end without the commit means it was never stored \
                          (drop); a log not read to its end keeps the commit pending."
                .into(),
            steps: vec![
                commit_step(
                    1_000,
                    vec![row("message", 3, b"hi"), row("commit", 3, b"older"), row("commit", 4, ours)],
                    true,
                    "merge",
                    Some(2),
                ),
                commit_step(1_001, vec![row("message", 3, b"hi"), row("commit", 4, theirs)], true, "drop", Some(1)),
                commit_step(1_002, vec![row("commit", 5, ours)], false, "drop", Some(0)),
                commit_step(1_003, vec![row("message", 4, ours)], true, "drop", None),
                commit_step(1_004, vec![row("commit", 3, b"older"), row("message", 3, b"hi")], false, "keep", None),
                commit_step(1_005, vec![], true, "drop", None),
            ],
        },
        vec![],
        vec![],
    ));
}
