//! MLS groups with the `e2ee` CLI against the real served API (`cargo lambda watch`, started by
//! scripts/test.sh): devices certified by their users' identity keys, a group of three users created, joined
//! from Welcomes, everyone reading everyone, a member added later reading from then on, a removed member
//! reading nothing new, and no plaintext at rest — neither in the server's store nor in any profile file.
//!
//! Needs E2EE_SERVER and E2EE_DATA_DIR like cli_e2e.rs; in CI (CI=true) their absence fails the test.

mod proxy;

use std::path::Path;

use e2ee_test_kit::cli::{Profiles, texts, unlocked};
use e2ee_test_kit::random_hex;
use serde_json::Value;

fn group_read(cli: &Profiles, profile: &str, group: &str) -> Vec<Value> {
    let read = cli.json(profile, &unlocked(&["group", "read", group]));
    read["messages"].as_array().unwrap().clone()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn three_users_in_one_group_read_each_other_and_a_removed_member_reads_nothing_new() {
    let Some((cli, served, [(alice, alice_id, _), (bob, _, _), (carol, _, _)])) =
        Profiles::served_with(["alice", "bob", "carol"])
    else {
        return;
    };
    let marker = random_hex(8);
    for profile in ["alice", "bob", "carol"] {
        let device = cli.json(
            profile,
            &unlocked(&["device", "init", "--device-id", "laptop"]),
        );
        assert_eq!(device["status"], "active");
        assert!(device["keyPackages"].as_u64().unwrap() >= 10, "{device}");
        assert_eq!(device["lastResort"], true);
    }
    // Bob's devices as Alice sees them: certified by the key she pins on first use.
    let listed = cli.json("alice", &["device", "list", "--user", &bob]);
    assert_eq!(listed["devices"][0]["deviceId"], "laptop");
    assert_eq!(listed["devices"][0]["trusted"], true, "{listed}");

    // Alice creates the group with Bob; Bob joins from his Welcome.
    let created = cli.json(
        "alice",
        &unlocked(&["group", "create", "--name", "trio", "--member", &bob]),
    );
    let group = created["groupId"].as_str().unwrap().to_owned();
    assert_eq!(created["members"].as_array().unwrap().len(), 2, "{created}");
    let synced = cli.json("bob", &unlocked(&["sync"]));
    assert_eq!(synced["joined"], serde_json::json!([group]), "{synced}");
    // The Welcome was acknowledged: a second sync joins nothing.
    let again = cli.json("bob", &unlocked(&["sync"]));
    assert_eq!(again["joined"], serde_json::json!([]));

    // Bob compares Alice's fingerprint, which binds her name to the user id he pinned when he joined.
    cli.json("bob", &["keys", "verify", &alice]);

    // Both ways.
    let hello = format!("hello bob {marker}");
    cli.json("alice", &unlocked(&["group", "send", &group, &hello]));
    let read = group_read(&cli, "bob", &group);
    assert_eq!(texts(&read), [hello.as_str()]);
    assert_eq!(read[0]["sender"], alice.as_str());
    assert_eq!(read[0]["senderUserId"], alice_id.as_str());
    assert_eq!(read[0]["senderDevice"], "laptop");
    assert_eq!(read[0]["status"], "ok");
    let reply = format!("hi alice {marker}");
    cli.json("bob", &unlocked(&["group", "send", &group, &reply]));
    assert_eq!(texts(&group_read(&cli, "alice", &group)), [reply.as_str()]);
    // Nothing new on a second read; --all shows what this device has read and sent.
    assert!(group_read(&cli, "alice", &group).is_empty());
    let all = cli.json("alice", &unlocked(&["group", "read", &group, "--all"]));
    assert_eq!(
        texts(all["messages"].as_array().unwrap()),
        [hello.as_str(), reply.as_str()]
    );

    // Carol is added later: she reads from then on, not before.
    let added = cli.json("alice", &unlocked(&["group", "add", &group, &carol]));
    assert_eq!(added["members"].as_array().unwrap().len(), 3);
    let synced = cli.json("carol", &unlocked(&["sync"]));
    assert_eq!(synced["joined"], serde_json::json!([group]));
    let welcome_carol = format!("welcome carol {marker}");
    cli.json("bob", &unlocked(&["group", "send", &group, &welcome_carol]));
    assert_eq!(
        texts(&group_read(&cli, "carol", &group)),
        [welcome_carol.as_str()]
    );
    assert_eq!(
        texts(&group_read(&cli, "alice", &group)),
        [welcome_carol.as_str()]
    );
    let members = cli.json("carol", &unlocked(&["group", "members", &group]));
    let users: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["userId"].as_str().unwrap())
        .collect();
    assert!(users.contains(&alice_id.as_str()));

    // Alice removes Bob: he reads nothing sent after, Carol does.
    let removed = cli.json("alice", &unlocked(&["group", "remove", &group, &bob]));
    assert_eq!(removed["members"].as_array().unwrap().len(), 2);
    let secret = format!("bob is gone {marker}");
    cli.json("alice", &unlocked(&["group", "send", &group, &secret]));
    assert_eq!(texts(&group_read(&cli, "carol", &group)), [secret.as_str()]);
    let refused = cli.run("bob", &unlocked(&["group", "read", &group]), b"");
    assert!(!refused.status.success());
    assert!(!contains(&refused.stdout, secret.as_bytes()));

    // At rest: no plaintext in the server's store, nor in any profile file (the MLS state is sealed).
    for text in [&hello, &reply, &welcome_carol, &secret] {
        for file in files(&served.data_dir).into_iter().chain(files(cli.dir())) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                !contains(&bytes, text.as_bytes()),
                "{text:?} in {}",
                file.display()
            );
        }
    }
    let state = std::fs::read(cli.dir().join("alice/mls.sealed")).unwrap();
    assert!(state.starts_with(b"e2ee-at-rest-v1"));
}

async fn store(served: &e2ee_test_kit::env::Served) -> sqlx::SqliteConnection {
    use sqlx::Connection as _;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(served.data_dir.join("e2ee.sqlite3"))
        .busy_timeout(std::time::Duration::from_secs(10));
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap()
}

/// The group's newest log position, read off the server's store.
async fn last_seq(db: &mut sqlx::SqliteConnection, group: &str) -> i64 {
    sqlx::query_scalar::<sqlx::Sqlite, i64>("SELECT MAX(seq) FROM group_log WHERE group_id = ?")
        .bind(group)
        .fetch_one(db)
        .await
        .unwrap()
}

/// Two users with MLS devices, and a group of Alice's: `[alice, alice_id, bob, bob_id]`.
fn alice_bob_and_a_group() -> Option<(Profiles, e2ee_test_kit::env::Served, [String; 4], String)> {
    let (cli, served, [(alice, alice_id, _), (bob, bob_id, _)]) =
        Profiles::served_with(["alice", "bob"])?;
    for profile in ["alice", "bob"] {
        cli.json(
            profile,
            &unlocked(&["device", "init", "--device-id", "laptop"]),
        );
    }
    let created = cli.json("alice", &unlocked(&["group", "create"]));
    let group = created["groupId"].as_str().unwrap().to_owned();
    Some((cli, served, [alice, alice_id, bob, bob_id], group))
}

/// Alice's `group add GROUP USER` refuses the ghost device the server offers (exit code 5) and commits
/// nothing: her group stays at epoch 0 with her device alone.
fn add_refuses_the_ghost(cli: &Profiles, group: &str, user: &str) {
    let refused = cli.fails("alice", &unlocked(&["group", "add", group, user]), 5);
    assert!(
        refused.contains("ghost") && refused.contains("never certified"),
        "{refused}"
    );
    let members = cli.json("alice", &unlocked(&["group", "members", group]));
    assert_eq!(members["epoch"], 0, "{members}");
    assert_eq!(members["members"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_package_of_a_device_the_user_never_certified_is_refused_and_the_group_unchanged() {
    let Some((cli, served, [_, _, bob, bob_id], group)) = alice_bob_and_a_group() else {
        return;
    };
    // The server (here: someone with its database) slips in a "ghost" device of Bob's, with a perfectly valid
    // key package, but no certificate from Bob's identity key.
    let ghost = e2ee_test_kit::mls::TestDevice::new(&bob_id, "ghost");
    let now = i64::try_from(e2ee_test_kit::now_ms()).unwrap();
    let mut db = store(&served).await;
    sqlx::query::<sqlx::Sqlite>(
        "INSERT INTO devices (user_id, device_id, display_name, signature_key, status, created_at, approved_at) \
         VALUES (?, 'ghost', 'ghost', ?, 'active', ?, ?)",
    )
    .bind(&bob_id)
    .bind(ghost.signature_key())
    .bind(now)
    .bind(now)
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query::<sqlx::Sqlite>(
        "INSERT INTO key_packages (key_package_ref, user_id, device_id, message, not_after, last_resort, uploaded_at) \
         VALUES (?, ?, 'ghost', ?, ?, 0, ?)",
    )
    .bind(random_hex(32).into_bytes())
    .bind(&bob_id)
    .bind(ghost.key_package())
    .bind(now + 86_400_000)
    .bind(now)
    .execute(&mut db)
    .await
    .unwrap();

    // Alice's device sees a ghost among Bob's devices, and refuses to add Bob while the server offers it.
    let listed = cli.json("alice", &["device", "list", "--user", &bob]);
    let trusted: Vec<(&str, bool)> = listed["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["deviceId"].as_str().unwrap(),
                d["trusted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        trusted.contains(&("laptop", true)) && trusted.contains(&("ghost", false)),
        "{listed}"
    );
    add_refuses_the_ghost(&cli, &group, &bob);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_application_message_is_flagged_not_shown_twice() {
    let Some((cli, served, [_, _, bob, _], group)) = alice_bob_and_a_group() else {
        return;
    };
    cli.json("alice", &unlocked(&["group", "add", &group, &bob]));
    cli.json("bob", &unlocked(&["sync"]));
    let text = format!("only once {}", random_hex(4));
    cli.json("alice", &unlocked(&["group", "send", &group, &text]));
    assert_eq!(texts(&group_read(&cli, "bob", &group)), [text.as_str()]);

    // The server replays the stored message as a new row of the log.
    let mut db = store(&served).await;
    let seq = last_seq(&mut db, &group).await;
    let replayed = sqlx::query::<sqlx::Sqlite>(
        "INSERT INTO group_log (group_id, seq, kind, epoch, commit_epoch, sender_user, sender_device, \
         client_message_id, message, created_at) \
         SELECT group_id, ?, kind, epoch, ?, sender_user, sender_device, 'replayed', message, created_at \
         FROM group_log WHERE group_id = ? AND seq = ?",
    )
    .bind(seq + 1)
    .bind(-(seq + 2))
    .bind(&group)
    .bind(seq)
    .execute(&mut db)
    .await
    .unwrap();
    assert_eq!(replayed.rows_affected(), 1);
    let read = group_read(&cli, "bob", &group);
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(read[0]["status"], "failed");
    assert!(read[0].get("text").is_none());
    let all = cli.json("bob", &unlocked(&["group", "read", &group, "--all"]));
    let shown: Vec<&str> = texts(all["messages"].as_array().unwrap());
    assert_eq!(shown.iter().filter(|t| **t == text.as_str()).count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_no_member_made_is_rejected_and_the_group_goes_on() {
    let Some((cli, served, [_, alice_id, bob, _], group)) = alice_bob_and_a_group() else {
        return;
    };
    cli.json("alice", &unlocked(&["group", "add", &group, &bob]));
    cli.json("bob", &unlocked(&["sync"]));
    let before = cli.json("bob", &unlocked(&["group", "members", &group]));
    assert_eq!(before["epoch"], 1);

    // The server appends a commit of its own making for the current epoch, naming Alice's laptop as its
    // sender; the row carries the stored state over, so the server itself goes on working.
    let forged = e2ee_test_kit::mls::TestDevice::new(&alice_id, "laptop")
        .forged_commit(&hex::decode(&group).unwrap(), 1);
    let mut db = store(&served).await;
    let seq = last_seq(&mut db, &group).await;
    let inserted = sqlx::query::<sqlx::Sqlite>(
        "INSERT INTO group_log (group_id, seq, kind, epoch, commit_epoch, sender_user, sender_device, \
         client_message_id, message, welcome, group_info, public_state, members, created_at) \
         SELECT group_id, ?, 'commit', 2, 2, ?, 'laptop', ?, ?, NULL, group_info, public_state, members, \
         created_at FROM group_log WHERE group_id = ? AND commit_epoch = 1",
    )
    .bind(seq + 1)
    .bind(&alice_id)
    .bind("\u{1}epoch-2")
    .bind(forged)
    .bind(&group)
    .execute(&mut db)
    .await
    .unwrap();
    assert_eq!(inserted.rows_affected(), 1);

    // Bob's device refuses it, says so, and stays at epoch 1 with the same members.
    let read = group_read(&cli, "bob", &group);
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(read[0]["status"], "failed");
    assert!(
        read[0]["reason"]
            .as_str()
            .unwrap()
            .contains("cannot be processed"),
        "{read:?}"
    );
    let after = cli.json("bob", &unlocked(&["group", "members", &group]));
    assert_eq!(after["epoch"], 1);
    assert_eq!(after["members"], before["members"]);
    // So does Alice's, although the row names her own device: it did not make a commit for epoch 2.
    let alice_read = group_read(&cli, "alice", &group);
    assert_eq!(alice_read.len(), 1, "{alice_read:?}");
    assert_eq!(alice_read[0]["status"], "failed");
    // Messages of epoch 1 still go both ways (the server takes the 2 epochs before its newest).
    let text = format!("still here {}", random_hex(4));
    cli.json("alice", &unlocked(&["group", "send", &group, &text]));
    assert_eq!(texts(&group_read(&cli, "bob", &group)), [text.as_str()]);
}

#[test]
fn a_member_leaves_on_all_devices_and_reads_nothing_after() {
    let Some((cli, _served, [_, (bob, bob_id, _), (carol, _, _)])) =
        Profiles::served_with(["alice", "bob", "carol"])
    else {
        return;
    };
    for profile in ["alice", "bob", "carol"] {
        cli.json(
            profile,
            &unlocked(&["device", "init", "--device-id", "laptop"]),
        );
    }
    let created = cli.json(
        "alice",
        &unlocked(&["group", "create", "--member", &bob, "--member", &carol]),
    );
    let group = created["groupId"].as_str().unwrap().to_owned();
    for profile in ["bob", "carol"] {
        cli.json(profile, &unlocked(&["sync"]));
    }

    let left = cli.json("bob", &unlocked(&["group", "leave", &group]));
    assert_eq!(left["groupId"], group.as_str());
    assert_eq!(left["removalPending"], true, "{left}");
    let listed = cli.json("bob", &unlocked(&["group", "list"]));
    assert_eq!(listed["groups"], serde_json::json!([]), "{listed}");

    // Alice reads Bob's leave request and commits his removal; Carol then finds nothing left to do.
    let read = group_read(&cli, "alice", &group);
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(read[0]["status"], "left");
    assert_eq!(read[0]["senderUserId"], bob_id.as_str());
    let members = cli.json("alice", &unlocked(&["group", "members", &group]));
    assert_eq!(members["epoch"], 2, "{members}");
    assert_eq!(members["members"].as_array().unwrap().len(), 2);
    assert!(
        !members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["userId"] == bob_id.as_str())
    );
    assert_eq!(group_read(&cli, "carol", &group)[0]["status"], "left");
    let carol_view = cli.json("carol", &unlocked(&["group", "members", &group]));
    assert_eq!(carol_view["epoch"], 2, "{carol_view}");

    let secret = format!("after bob left {}", random_hex(4));
    cli.json("alice", &unlocked(&["group", "send", &group, &secret]));
    assert_eq!(texts(&group_read(&cli, "carol", &group)), [secret.as_str()]);
    let refused = cli.run("bob", &unlocked(&["group", "read", &group]), b"");
    assert!(!refused.status.success());
    assert!(!contains(&refused.stdout, secret.as_bytes()));
}

#[test]
fn a_second_device_is_approved_joins_the_groups_and_is_revoked_and_concurrent_commits_both_land() {
    let Some((cli, _served, [(alice, _, _), (bob, _, _), (carol, _, _), (dave, _, _)])) =
        Profiles::served_with(["alice", "bob", "carol", "dave"])
    else {
        return;
    };
    for profile in ["alice", "bob", "carol", "dave"] {
        cli.json(
            profile,
            &unlocked(&["device", "init", "--device-id", "laptop"]),
        );
    }
    let created = cli.json("alice", &unlocked(&["group", "create", "--member", &bob]));
    let group = created["groupId"].as_str().unwrap().to_owned();
    cli.json("bob", &unlocked(&["sync"]));
    cli.json("bob", &["keys", "verify", &alice]);

    // Alice's phone: log in, ask to be a device; the laptop shows its fingerprint, then approves it with the
    // phone's link code (review N10: the phone learns Alice's key from the laptop, not from the server).
    cli.json(
        "alice-phone",
        &[
            "login",
            &alice,
            "--password-env",
            e2ee_test_kit::cli::PASSWORD,
        ],
    );
    let requested = cli.json(
        "alice-phone",
        &unlocked(&["device", "request", "--device-id", "phone"]),
    );
    assert_eq!(requested["status"], "pending");
    let code = requested["linkCode"].as_str().unwrap().to_owned();
    let pending = cli.json("alice", &unlocked(&["device", "approve"]));
    assert_eq!(pending["devices"][0]["deviceId"], "phone");
    assert_eq!(pending["devices"][0]["status"], "pending");
    assert_eq!(
        pending["devices"][0]["fingerprint"],
        requested["fingerprint"]
    );
    // A code for another device approves nothing (exit 2).
    let wrong = cli.run(
        "alice",
        &unlocked(&["device", "approve", "phone", "--code", &"A".repeat(32)]),
        b"",
    );
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");
    let approved = cli.json(
        "alice",
        &unlocked(&["device", "approve", "phone", "--code", &code]),
    );
    assert_eq!(approved["devices"][0]["status"], "active");
    // The phone uploads key packages on its next sync (and checks the link proof: it pins Alice's key and
    // trusts her devices); the laptop's next sync adds it to the group.
    cli.json("alice-phone", &unlocked(&["sync"]));
    let own = cli.json("alice-phone", &["device", "list"]);
    let trusted: Vec<(&str, bool)> = own["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["deviceId"].as_str().unwrap(),
                d["trusted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(trusted, [("laptop", true), ("phone", true)], "{own}");
    assert!(own.get("note").is_none(), "{own}");
    assert_eq!(
        cli.json("alice-phone", &["keys", "verify", &alice])["status"],
        "unchanged"
    );
    cli.json("alice", &unlocked(&["sync"]));
    let joined = cli.json("alice-phone", &unlocked(&["sync"]));
    assert_eq!(joined["joined"], serde_json::json!([group]), "{joined}");

    // What Bob sends, both of Alice's devices read; what the phone sends, Bob reads as from Alice's phone.
    let to_both = format!("to both devices {}", random_hex(4));
    cli.json("bob", &unlocked(&["group", "send", &group, &to_both]));
    assert_eq!(
        texts(&group_read(&cli, "alice-phone", &group)),
        [to_both.as_str()]
    );
    assert_eq!(
        texts(&group_read(&cli, "alice", &group)),
        [to_both.as_str()]
    );
    let from_phone = format!("from the phone {}", random_hex(4));
    cli.json(
        "alice-phone",
        &unlocked(&["group", "send", &group, &from_phone]),
    );
    let read = group_read(&cli, "bob", &group);
    assert_eq!(texts(&read), [from_phone.as_str()]);
    assert_eq!(
        (read[0]["sender"].as_str(), read[0]["senderDevice"].as_str()),
        (Some(alice.as_str()), Some("phone"))
    );
    // The laptop reads its own user's other device too.
    assert_eq!(
        texts(&group_read(&cli, "alice", &group)),
        [from_phone.as_str()]
    );

    // Two members commit at the same time: both adds land (one of them after reading the other's commit).
    let (add_carol, add_dave) = std::thread::scope(|scope| {
        let carol = scope.spawn(|| {
            cli.run(
                "alice",
                &unlocked(&["--json", "group", "add", &group, &carol]),
                b"",
            )
        });
        let dave = scope.spawn(|| {
            cli.run(
                "bob",
                &unlocked(&["--json", "group", "add", &group, &dave]),
                b"",
            )
        });
        (carol.join().unwrap(), dave.join().unwrap())
    });
    assert!(
        add_carol.status.success(),
        "{}",
        String::from_utf8_lossy(&add_carol.stderr)
    );
    assert!(
        add_dave.status.success(),
        "{}",
        String::from_utf8_lossy(&add_dave.stderr)
    );
    let members = cli.json("bob", &unlocked(&["group", "members", &group]));
    assert_eq!(members["members"].as_array().unwrap().len(), 5, "{members}");

    // The laptop revokes the phone: it leaves the group and reads nothing new.
    let revoked = cli.json("alice", &unlocked(&["device", "revoke", "phone"]));
    assert_eq!(revoked["status"], "revoked");
    let members = cli.json("alice", &unlocked(&["group", "members", &group]));
    let devices: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["deviceId"].as_str().unwrap())
        .collect();
    assert!(!devices.contains(&"phone"), "{members}");
    let after = format!("after the phone {}", random_hex(4));
    cli.json("bob", &unlocked(&["group", "send", &group, &after]));
    let refused = cli.run("alice-phone", &unlocked(&["group", "read", &group]), b"");
    assert!(!refused.status.success());
    assert!(!contains(&refused.stdout, after.as_bytes()));
}

#[test]
fn a_device_updates_its_leaf_after_fifty_messages_and_the_others_follow() {
    let Some((cli, _served, [_, _, bob, _], group)) = alice_bob_and_a_group() else {
        return;
    };
    cli.json("alice", &unlocked(&["group", "add", &group, &bob]));
    cli.json("bob", &unlocked(&["sync"]));
    let mut epochs = Vec::new();
    let after = usize::try_from(e2ee_client::device::UPDATE_AFTER_MESSAGES).unwrap();
    for index in 0..=after {
        let sent = cli.json(
            "alice",
            &unlocked(&["group", "send", &group, &format!("message {index}")]),
        );
        epochs.push(sent["epoch"].as_u64().unwrap());
    }
    // The first ones go out in the epoch of the add; before the last, Alice's device commits a fresh leaf.
    let first = epochs[0];
    assert!(
        epochs[..epochs.len() - 1].iter().all(|e| *e == first),
        "{epochs:?}"
    );
    assert_eq!(*epochs.last().unwrap(), first + 1, "{epochs:?}");
    let read = group_read(&cli, "bob", &group);
    assert_eq!(read.len(), epochs.len());
    assert!(read.iter().all(|m| m["status"] == "ok"), "{read:?}");
}

/// Review N4, through a lossy network: the server stores Alice's commit that adds Bob, but its 201 is lost (the
/// proxy answers 504). Alice saved the commit before posting, so her next command finds it in the log and merges
/// it: she is at the new epoch, can send, and Bob (who joined from the Welcome) reads her.
#[tokio::test(flavor = "multi_thread")]
async fn a_commit_whose_answer_was_lost_is_merged_from_the_log() {
    let Some(served) = e2ee_test_kit::env::served() else {
        return;
    };
    let (proxy_url, script) = proxy::start(&served.base).await;
    let cli = Profiles::new(e2ee_test_kit::cli::binary(), &proxy_url);
    let (_, _, _) = cli.account("alice", "alice");
    let (bob, _, _) = cli.account("bob", "bob");
    for profile in ["alice", "bob"] {
        cli.json(
            profile,
            &unlocked(&["device", "init", "--device-id", "laptop"]),
        );
    }
    let created = cli.json("alice", &unlocked(&["group", "create"]));
    let group = created["groupId"].as_str().unwrap().to_owned();

    script.lock().unwrap().lose_answer = Some(("POST".into(), "/commits".into()));
    let add = cli.run("alice", &unlocked(&["group", "add", &group, &bob]), b"");
    assert!(
        !add.status.success(),
        "the lost answer is an error for this command"
    );
    assert_eq!(script.lock().unwrap().lost.len(), 1);

    let synced = cli.json("bob", &unlocked(&["sync"]));
    assert_eq!(synced["joined"], serde_json::json!([group]), "{synced}");
    let members = cli.json("alice", &unlocked(&["group", "members", &group]));
    assert_eq!(
        members["epoch"], 1,
        "Alice merged her own commit: {members}"
    );
    assert_eq!(members["members"].as_array().unwrap().len(), 2, "{members}");
    let text = format!("after the lost answer {}", random_hex(4));
    cli.json("alice", &unlocked(&["group", "send", &group, &text]));
    let read = group_read(&cli, "bob", &group);
    assert!(read.iter().any(|m| m["text"] == text.as_str()), "{read:?}");
}

/// An attacker's own client (issue 21, scenario (a)): an account with a device certified by its identity key,
/// driven over HTTP with openmls directly — it does what the `e2ee` CLI never would.
struct Attacker {
    server: e2ee_test_kit::served::Server,
    device: e2ee_test_kit::mls::TestDevice,
    token: String,
}

impl Attacker {
    async fn new(base: &str) -> Attacker {
        let server = e2ee_test_kit::served::Server::new(base);
        let user = server.account("mallory", "mallory's long password").await;
        let device = e2ee_test_kit::mls::TestDevice::new(&user.id, "laptop");
        let (status, body) = server
            .post(
                "/api/devices",
                &user.token,
                device.registration(Some(&user.key)),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = server
            .post(
                "/api/devices/session",
                &user.token,
                device.session_request(),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let token = body["token"].as_str().unwrap().to_owned();
        Attacker {
            server,
            device,
            token,
        }
    }

    /// One key package of each of `user_id`'s devices, claimed through the API.
    async fn claim(&self, user_id: &str) -> Vec<openmls::prelude::KeyPackage> {
        use openmls::prelude::tls_codec::DeserializeBytes as _;
        use openmls::prelude::*;
        let (status, body) = self
            .server
            .post(
                "/api/key-packages/claim",
                &self.token,
                serde_json::json!({"userId": user_id}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["keyPackages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|offered| {
                let bytes = base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    offered["keyPackage"].as_str().unwrap(),
                )
                .unwrap();
                let MlsMessageBodyIn::KeyPackage(package) =
                    MlsMessageIn::tls_deserialize_exact_bytes(&bytes)
                        .unwrap()
                        .extract()
                else {
                    panic!("not a key package");
                };
                package
                    .validate(self.device.provider.crypto(), ProtocolVersion::Mls10)
                    .unwrap()
            })
            .collect()
    }

    /// A new group of the attacker alone, made as the `e2ee` CLI makes them; its id.
    async fn create_group(&self) -> (String, openmls::prelude::MlsGroup) {
        let group = openmls::prelude::MlsGroup::new(
            &self.device.provider,
            &self.device.signer,
            &e2ee_client::mls::create_config(),
            self.device.credential.clone(),
        )
        .unwrap();
        let body = serde_json::json!({
            "groupInfo": e2ee_test_kit::b64(&self.device.group_info(&group)),
            "ratchetTree": e2ee_test_kit::b64(&e2ee_test_kit::mls::ratchet_tree(&group)),
        });
        let (status, reply) = self.server.post("/api/groups", &self.token, body).await;
        assert_eq!(status, 201, "{reply}");
        (reply["groupId"].as_str().unwrap().to_owned(), group)
    }

    /// Commits the add of `packages` to the group with its Welcome; the server's answer.
    async fn add(
        &self,
        group_id: &str,
        group: &mut openmls::prelude::MlsGroup,
        packages: &[openmls::prelude::KeyPackage],
    ) -> (e2ee_test_kit::served::StatusCode, Value) {
        let (provider, signer) = (&self.device.provider, &self.device.signer);
        let (commit, welcome, _) = group.add_members(provider, signer, packages).unwrap();
        group.merge_pending_commit(provider).unwrap();
        let body = serde_json::json!({
            "commit": e2ee_test_kit::b64(&commit.to_bytes().unwrap()),
            "welcome": e2ee_test_kit::b64(&welcome.to_bytes().unwrap()),
            "groupInfo": e2ee_test_kit::b64(&self.device.group_info(group)),
        });
        let path = format!("/api/groups/{group_id}/commits");
        self.server.post(&path, &self.token, body).await
    }
}

/// Issue 21, scenario (a), review N1 through the served API: an attacker claims one of Bob's one-time key
/// packages and adds it to a group of hers, then replays the same package into a second group. The server
/// refuses the reuse (409 `key_package_reused`), so no second Welcome exists; Bob's next `sync` joins the honest
/// group Alice made (and the attacker's first group, an ordinary group of a certified device), refuses nothing,
/// and Bob is at the honest group's current epoch and can send in it.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_package_replayed_into_a_second_group_is_refused_and_the_victim_syncs_on() {
    let Some((cli, served, [_, (bob, bob_id, _)])) = Profiles::served_with(["alice", "bob"]) else {
        return;
    };
    for profile in ["alice", "bob"] {
        cli.json(
            profile,
            &unlocked(&["device", "init", "--device-id", "laptop"]),
        );
    }
    let attacker = Attacker::new(&served.base).await;
    let packages = attacker.claim(&bob_id).await;
    assert_eq!(packages.len(), 1, "Bob has one device");
    let (first, mut first_group) = attacker.create_group().await;
    let (status, body) = attacker.add(&first, &mut first_group, &packages).await;
    assert_eq!(status, 201, "{body}");
    let (second, mut second_group) = attacker.create_group().await;
    let (status, body) = attacker.add(&second, &mut second_group, &packages).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "key_package_reused", "{body}");

    let created = cli.json(
        "alice",
        &unlocked(&["group", "create", "--name", "honest", "--member", &bob]),
    );
    let honest = created["groupId"].as_str().unwrap().to_owned();
    let synced = cli.json("bob", &unlocked(&["sync"]));
    let mut joined: Vec<&str> = synced["joined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    joined.sort_unstable();
    let mut expected = vec![honest.as_str(), first.as_str()];
    expected.sort_unstable();
    assert_eq!(joined, expected, "{synced}");
    assert_eq!(synced["refused"], serde_json::json!([]), "{synced}");
    let listed = cli.json("bob", &unlocked(&["group", "list"]));
    assert!(!listed.to_string().contains(&second), "{listed}");

    // Bob is where Alice is, and they talk.
    let bob_view = cli.json("bob", &unlocked(&["group", "members", &honest]));
    let alice_view = cli.json("alice", &unlocked(&["group", "members", &honest]));
    assert_eq!(bob_view["epoch"], alice_view["epoch"], "{bob_view}");
    let text = format!("after the replay {}", random_hex(4));
    cli.json("bob", &unlocked(&["group", "send", &honest, &text]));
    let read = group_read(&cli, "alice", &honest);
    assert_eq!(texts(&read), [text.as_str()]);
    assert_eq!(read[0]["sender"], bob.as_str());
}

/// Issue 21, scenario (c), review N2 through a malicious server: the proxy adds a "retired" identity key of
/// its own to Bob's key listing, a ghost device certified by that key to his device listing, and a key package
/// of the ghost to the claims of Bob's packages. Alice's device pins Bob's active key only: `device list`
/// shows the ghost untrusted (`untrusted_issuer`), `group create` / `group add` with Bob refuse it (exit code
/// 5, nothing committed), and `keys verify` reports Bob unchanged with a safety number over his honest key
/// alone. Once the server stops lying, the add goes through.
#[tokio::test(flavor = "multi_thread")]
async fn a_ghost_device_certified_by_a_retired_key_the_server_added_is_refused() {
    let Some(served) = e2ee_test_kit::env::served() else {
        return;
    };
    let (proxy_url, script) = proxy::start(&served.base).await;
    let cli = Profiles::new(e2ee_test_kit::cli::binary(), &proxy_url);
    cli.account("alice", "alice");
    let (bob, bob_id, _) = cli.account("bob", "bob");
    for profile in ["alice", "bob"] {
        cli.json(
            profile,
            &unlocked(&["device", "init", "--device-id", "laptop"]),
        );
    }
    let honest_key = cli.json("bob", &["keys", "show"])["keys"][0]["keyId"]
        .as_str()
        .unwrap()
        .to_owned();

    // The server's own key, listed as retired a minute ago, and a ghost it certified before that.
    let retired = e2ee_test_kit::account::test_key();
    let now = i64::try_from(e2ee_test_kit::now_ms()).unwrap();
    let (retired_at, issued_at) = (now - 60_000, now - 120_000);
    let retired_view = serde_json::json!({
        "keyId": retired.key_id().to_string(),
        "fingerprint": retired.key_id().fingerprint(),
        "bits": 2048,
        "publicKey": retired.public_key().to_spki_pem().unwrap(),
        "status": "retired",
        "createdAt": now - 3_600_000,
        "retiredAt": retired_at,
    });
    let ghost = e2ee_test_kit::mls::TestDevice::new(&bob_id, "ghost");
    let signature_key = ghost.signature_key();
    let statement = e2ee_crypto::DeviceStatement {
        user_id: &bob_id,
        device_id: "ghost",
        signature_key: &signature_key,
        issuer_key_id: retired.key_id(),
        created_at: u64::try_from(issued_at).unwrap(),
    };
    let ghost_view = serde_json::json!({
        "userId": bob_id,
        "deviceId": "ghost",
        "displayName": "ghost",
        "signatureKey": e2ee_test_kit::b64(&signature_key),
        "status": "active",
        "certificate": {
            "issuerKeyId": retired.key_id().to_string(),
            "issuedAt": issued_at,
            "signature": e2ee_test_kit::b64(&statement.sign(&retired).unwrap()),
        },
        "createdAt": issued_at,
        "approvedAt": issued_at,
    });
    let ghost_package = serde_json::json!({
        "deviceId": "ghost",
        "keyPackage": e2ee_test_kit::b64(&ghost.key_package()),
        "lastResort": false,
    });
    let (keys_path, devices_path) = (
        format!("/api/crypto/public-key/{bob_id}"),
        format!("/api/devices/{bob_id}"),
    );
    let target = bob_id.clone();
    script.lock().unwrap().rewrite = Some(Box::new(move |method, path, body| {
        let route = path.split('?').next().unwrap_or("");
        let (list, extra) = match (method, route) {
            ("GET", r) if r == keys_path && path.contains("all=true") => ("keys", &retired_view),
            ("GET", r) if r == devices_path => ("devices", &ghost_view),
            ("POST", "/api/key-packages/claim") if body["userId"] == target.as_str() => {
                ("keyPackages", &ghost_package)
            }
            _ => return false,
        };
        match body[list].as_array_mut() {
            Some(items) => {
                items.push(extra.clone());
                true
            }
            None => false,
        }
    }));

    // First contact: Bob's laptop is trusted, the ghost is not, and Alice's device says why.
    let listed = cli.json("alice", &["device", "list", "--user", &bob]);
    let devices = listed["devices"].as_array().unwrap();
    let by_id = |id: &str| devices.iter().find(|d| d["deviceId"] == id).unwrap();
    assert_eq!(by_id("laptop")["trusted"], true, "{listed}");
    assert!(by_id("laptop").get("reason").is_none(), "{listed}");
    assert_eq!(by_id("ghost")["trusted"], false, "{listed}");
    assert_eq!(by_id("ghost")["reason"], "untrusted_issuer", "{listed}");
    {
        let script = script.lock().unwrap();
        assert!(
            script.rewritten.iter().any(|r| r.contains("public-key"))
                && script.rewritten.iter().any(|r| r.contains("/api/devices/")),
            "the proxy served the ghost: {:?}",
            script.rewritten
        );
    }

    // Adding Bob refuses the ghost's key package, whichever command adds him; nothing is committed.
    let refused = cli.fails(
        "alice",
        &unlocked(&["group", "create", "--member", &bob]),
        5,
    );
    assert!(refused.contains("ghost"), "{refused}");
    let created = cli.json("alice", &unlocked(&["group", "create"]));
    let group = created["groupId"].as_str().unwrap().to_owned();
    add_refuses_the_ghost(&cli, &group, &bob);

    // Bob's contact is unchanged, and its safety number covers his honest key alone.
    let verified = cli.json("alice", &["keys", "verify", &bob]);
    assert_eq!(verified["status"], "unchanged", "{verified}");
    assert_eq!(verified["keyId"], honest_key.as_str(), "{verified}");
    let trusted: Vec<&str> = verified["trustedKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keyId"].as_str().unwrap())
        .collect();
    assert_eq!(trusted, [honest_key.as_str()], "{verified}");
    let mut only_honest = e2ee_client::contacts::Contacts::default();
    only_honest.pin_first_use(&bob_id, &bob, &honest_key, "", 0);
    assert_eq!(
        verified["safetyNumber"],
        only_honest.get(&bob_id).unwrap().safety_number().as_str(),
        "{verified}"
    );

    // The server stops lying: Bob is added, joins, and reads Alice.
    script.lock().unwrap().rewrite = None;
    cli.json("alice", &unlocked(&["group", "add", &group, &bob]));
    let synced = cli.json("bob", &unlocked(&["sync"]));
    assert_eq!(synced["joined"], serde_json::json!([group]), "{synced}");
    let text = format!("no ghost here {}", random_hex(4));
    cli.json("alice", &unlocked(&["group", "send", &group, &text]));
    assert_eq!(texts(&group_read(&cli, "bob", &group)), [text.as_str()]);
}
