//! MLS groups with the `e2ee` CLI against the real served API (`cargo lambda watch`, started by
//! scripts/test.sh): devices certified by their users' identity keys, a group of three users created, joined
//! from Welcomes, everyone reading everyone, a member added later reading from then on, a removed member
//! reading nothing new, and no plaintext at rest — neither in the server's store nor in any profile file.
//!
//! Needs E2EE_SERVER and E2EE_DATA_DIR like cli_e2e.rs; in CI (CI=true) their absence fails the test.

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
