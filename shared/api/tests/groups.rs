//! MLS groups through the handlers with real openmls clients (the test kit's devices), on every backend:
//! create, add (key packages claimed through the API), application messages, update, remove; the server's
//! validation (ghost devices, stale epochs, tampering) and the authorization matrix.

use e2ee_test_kit::in_process::*;
use lambda_http::http::{Method, StatusCode};
use openmls::prelude::tls_codec::DeserializeBytes;
use openmls::prelude::*;
use serde_json::{Value, json};

fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn b64_message(message: &MlsMessageOut) -> String {
    b64(&message.to_bytes().unwrap())
}

/// A member: the kit's device (its openmls provider, signer and credential), its token and its group.
struct Member {
    device: TestDevice,
    token: String,
    group: Option<MlsGroup>,
}

impl Member {
    /// Adds the devices of `packages` in one commit, merged at once; the commit and its Welcome.
    fn add(&mut self, packages: &[KeyPackage]) -> (MlsMessageOut, MlsMessageOut) {
        let (provider, signer) = (&self.device.provider, &self.device.signer);
        let group = self.group.as_mut().unwrap();
        let (commit, welcome, _) = group.add_members(provider, signer, packages).unwrap();
        self.merge();
        (commit, welcome)
    }

    fn merge(&mut self) {
        let group = self.group.as_mut().unwrap();
        group.merge_pending_commit(&self.device.provider).unwrap();
    }

    fn discard_pending(&mut self) {
        let group = self.group.as_mut().unwrap();
        group
            .clear_pending_commit(self.device.provider.storage())
            .unwrap();
    }

    fn group_info(&self) -> String {
        b64(&self.device.group_info(self.group.as_ref().unwrap()))
    }

    fn tree(&self) -> Vec<u8> {
        ratchet_tree(self.group.as_ref().unwrap())
    }

    fn join(&mut self, welcome: &str, tree: &[u8]) {
        let MlsMessageBodyIn::Welcome(welcome) =
            MlsMessageIn::tls_deserialize_exact_bytes(&unb64(welcome))
                .unwrap()
                .extract()
        else {
            panic!("not a welcome")
        };
        let tree = RatchetTreeIn::tls_deserialize_exact_bytes(tree).unwrap();
        let config = MlsGroupJoinConfig::builder()
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build();
        let staged =
            StagedWelcome::new_from_welcome(&self.device.provider, &config, welcome, Some(tree))
                .unwrap();
        self.group = Some(staged.into_group(&self.device.provider).unwrap());
    }

    /// Processes log entries as a member would: commits are merged, application messages decrypted.
    fn process(&mut self, entries: &[Value]) -> Vec<String> {
        let mut texts = Vec::new();
        let provider = &self.device.provider;
        let group = self.group.as_mut().unwrap();
        for entry in entries {
            if entry["kind"] == "create" {
                continue;
            }
            let message = MlsMessageIn::tls_deserialize_exact_bytes(&unb64(
                entry["message"].as_str().unwrap(),
            ))
            .unwrap();
            let processed =
                group.process_message(provider, message.try_into_protocol_message().unwrap());
            let Ok(processed) = processed else { continue }; // own commits come back too
            match processed.into_content() {
                ProcessedMessageContent::ApplicationMessage(message) => {
                    texts.push(String::from_utf8(message.into_bytes()).unwrap());
                }
                ProcessedMessageContent::StagedCommitMessage(staged) => {
                    group.merge_staged_commit(provider, *staged).unwrap();
                }
                _ => {}
            }
        }
        texts
    }
}

async fn member(state: &State, user: &User, device_id: &str) -> Member {
    let (device, token) = first_device(state, user, device_id).await;
    Member {
        device,
        token,
        group: None,
    }
}

async fn create(state: &State, creator: &mut Member) -> String {
    creator.group = Some(creator.device.new_group());
    let body = json!({"groupInfo": creator.group_info(), "ratchetTree": b64(&creator.tree())});
    let reply = post(state, "/api/groups", &creator.token, body).await;
    reply.assert_status(StatusCode::CREATED);
    assert_eq!(reply.body["epoch"], 0);
    reply.body["groupId"].as_str().unwrap().to_owned()
}

/// Claims one key package of each of `user_id`'s devices through the API, as `claimer`.
async fn claim(state: &State, claimer: &Member, user_id: &str) -> Vec<KeyPackage> {
    let reply = post(
        state,
        "/api/key-packages/claim",
        &claimer.token,
        json!({"userId": user_id}),
    )
    .await;
    reply.assert_status(StatusCode::OK);
    reply.body["keyPackages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let message = MlsMessageIn::tls_deserialize_exact_bytes(&unb64(
                p["keyPackage"].as_str().unwrap(),
            ))
            .unwrap();
            let MlsMessageBodyIn::KeyPackage(package) = message.extract() else {
                panic!("not a key package")
            };
            package
                .validate(claimer.device.provider.crypto(), ProtocolVersion::Mls10)
                .unwrap()
        })
        .collect()
}

async fn post_bundle(
    state: &State,
    path: &str,
    member: &Member,
    commit: &MlsMessageOut,
    welcome: Option<&MlsMessageOut>,
) -> Reply {
    let mut body = json!({"commit": b64_message(commit), "groupInfo": member.group_info()});
    if let Some(welcome) = welcome {
        body["welcome"] = json!(b64_message(welcome));
    }
    post(state, path, &member.token, body).await
}

async fn read_log(state: &State, reader: &Member, group_id: &str, after: Option<u64>) -> Reply {
    let path = format!("/api/groups/{group_id}/log");
    let after = after.map(|a| a.to_string());
    let mut query = vec![("limit", "100")];
    if let Some(after) = &after {
        query.push(("after", after));
    }
    get(state, &reader.token, &path, ("groupId", group_id), &query).await
}

async fn send_text(
    state: &State,
    sender: &mut Member,
    group_id: &str,
    id: &str,
    text: &str,
) -> Reply {
    let (provider, signer) = (&sender.device.provider, &sender.device.signer);
    let message = sender
        .group
        .as_mut()
        .unwrap()
        .create_message(provider, signer, text.as_bytes())
        .unwrap();
    let body = json!({"clientMessageId": id, "message": b64_message(&message)});
    post(
        state,
        &format!("/api/groups/{group_id}/messages"),
        &sender.token,
        body,
    )
    .await
}

#[tokio::test]
async fn a_group_through_the_api_create_add_message_update_remove() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let [alice_user, bob_user, carol_user] = users(&state, ["alice", "bob", "carol"]).await;
        let mut alice = member(&state, &alice_user, "laptop").await;
        let mut bob = member(&state, &bob_user, "phone").await;
        let carol = member(&state, &carol_user, "tablet").await;
        upload_key_packages(&state, &bob.token, &[bob.device.key_package()])
            .await
            .assert_status(StatusCode::CREATED);

        let group_id = create(&state, &mut alice).await;
        let commits = format!("/api/groups/{group_id}/commits");

        // Alice adds Bob with the key package the server hands out.
        let packages = claim(&state, &alice, &bob_user.id).await;
        assert_eq!(packages.len(), 1);
        let (commit, welcome) = alice.add(&packages);
        let accepted = post_bundle(&state, &commits, &alice, &commit, Some(&welcome)).await;
        accepted.assert_status(StatusCode::CREATED);
        assert_eq!(
            (
                accepted.body["epoch"].as_u64(),
                accepted.body["seq"].as_u64()
            ),
            (Some(1), Some(1))
        );
        // The Welcome waits in Bob's inbox until he acknowledges it; reading does not remove it.
        for _ in 0..2 {
            let inbox = get_plain(&state, &bob.token, "/api/welcomes").await;
            inbox.assert_status(StatusCode::OK);
            let welcomes = inbox.body["welcomes"].as_array().unwrap();
            assert_eq!(welcomes.len(), 1, "{}", inbox.body);
            assert_eq!(welcomes[0]["groupId"], group_id.as_str());
            assert_eq!(welcomes[0]["epoch"], 1);
            assert_eq!(
                unb64(welcomes[0]["welcome"].as_str().unwrap()),
                welcome.to_bytes().unwrap()
            );
        }
        let inbox = get_plain(&state, &alice.token, "/api/welcomes").await;
        assert_eq!(inbox.body["welcomes"], json!([]), "Alice has none");
        bob.join(&b64_message(&welcome), &alice.tree());
        let ack = json!({"groupId": group_id, "epoch": 1});
        for _ in 0..2 {
            post(&state, "/api/welcomes/ack", &bob.token, ack.clone())
                .await
                .assert_status(StatusCode::OK);
        }
        let inbox = get_plain(&state, &bob.token, "/api/welcomes").await;
        assert_eq!(inbox.body["welcomes"], json!([]));
        // Both devices list the group.
        for member in [&alice, &bob] {
            let listing = get_plain(&state, &member.token, "/api/groups").await;
            listing.assert_status(StatusCode::OK);
            assert_eq!(
                listing.body,
                json!({"groups": [{"groupId": group_id, "epoch": 1, "seq": 1, "memberCount": 2}]})
            );
        }
        let listing = get_plain(&state, &carol.token, "/api/groups").await;
        assert_eq!(listing.body["groups"], json!([]), "Carol is in no group");
        let group = get(
            &state,
            &bob.token,
            &format!("/api/groups/{group_id}"),
            ("groupId", &group_id),
            &[],
        )
        .await;
        group.assert_status(StatusCode::OK);
        assert_eq!(group.body["members"].as_array().unwrap().len(), 2);

        // Bob writes; Alice reads it from the log. Bob does not see the commit that added him.
        send_text(&state, &mut bob, &group_id, "b1", "hello alice")
            .await
            .assert_status(StatusCode::CREATED);
        let log = read_log(&state, &alice, &group_id, Some(1)).await;
        log.assert_status(StatusCode::OK);
        assert_eq!(
            alice.process(log.body["entries"].as_array().unwrap()),
            ["hello alice"]
        );
        let bobs_view = read_log(&state, &bob, &group_id, None).await;
        let kinds: Vec<_> = bobs_view.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].clone())
            .collect();
        assert_eq!(kinds, [json!("application")], "Bob reads from his join on");

        // Bob updates; a stale commit of Alice for the same epoch is refused afterwards.
        let (provider, signer) = (&bob.device.provider, &bob.device.signer);
        let bundle = bob
            .group
            .as_mut()
            .unwrap()
            .self_update(provider, signer, LeafNodeParameters::default())
            .unwrap();
        bob.merge();
        let update = post_bundle(&state, &commits, &bob, &bundle.into_commit(), None).await;
        update.assert_status(StatusCode::CREATED);
        let (provider, signer) = (&alice.device.provider, &alice.device.signer);
        let stale = alice
            .group
            .as_mut()
            .unwrap()
            .self_update(provider, signer, LeafNodeParameters::default())
            .unwrap();
        let refused = post_bundle(&state, &commits, &alice, &stale.into_commit(), None).await;
        refused.assert_error(StatusCode::CONFLICT, "wrong_epoch");
        // The 409 says where the group is: epoch 2, started by Bob's update at seq 3.
        assert_eq!(refused.body["error"]["currentEpoch"], 2, "{}", refused.body);
        assert_eq!(refused.body["error"]["seq"], 3, "{}", refused.body);
        alice.discard_pending();
        let log = read_log(&state, &alice, &group_id, Some(2)).await;
        alice.process(log.body["entries"].as_array().unwrap());
        assert_eq!(alice.group.as_ref().unwrap().epoch().as_u64(), 2);

        // Carol is no member: she reads and posts nothing, and learns no more than about an unknown group.
        let carol_log = read_log(&state, &carol, &group_id, None).await;
        let unknown = read_log(&state, &carol, "00ff00ff00ff", None).await;
        unknown.assert_error(StatusCode::NOT_FOUND, "group_not_found");
        assert_eq!(
            (carol_log.status, &carol_log.body),
            (unknown.status, &unknown.body)
        );
        for path in [
            format!("/api/groups/{group_id}"),
            "/api/groups/00ff00ff00ff".to_owned(),
        ] {
            let id = path.rsplit('/').next().unwrap_or_default().to_owned();
            get(&state, &carol.token, &path, ("groupId", &id), &[])
                .await
                .assert_error(StatusCode::NOT_FOUND, "group_not_found");
        }
        let body = json!({"clientMessageId": "c1", "message": b64(b"x")});
        post(
            &state,
            &format!("/api/groups/{group_id}/messages"),
            &carol.token,
            body,
        )
        .await
        .assert_error(StatusCode::NOT_FOUND, "group_not_found");
        // A user token is not a device.
        get(
            &state,
            &alice_user.token,
            &format!("/api/groups/{group_id}"),
            ("groupId", &group_id),
            &[],
        )
        .await
        .assert_error(StatusCode::FORBIDDEN, "device_token_required");

        // Alice removes Bob: Bob sees the commit that removes him, then nothing.
        let (provider, signer) = (&alice.device.provider, &alice.device.signer);
        let bob_leaf = alice
            .group
            .as_ref()
            .unwrap()
            .members()
            .find(|m| m.signature_key == bob.device.signature_key())
            .unwrap()
            .index;
        let (commit, _, _) = alice
            .group
            .as_mut()
            .unwrap()
            .remove_members(provider, signer, &[bob_leaf])
            .unwrap();
        alice.merge();
        post_bundle(&state, &commits, &alice, &commit, None)
            .await
            .assert_status(StatusCode::CREATED);
        // From his position (his update, seq 3, in epoch 2) Bob reads the commit that removes him ...
        let last = read_log(&state, &bob, &group_id, Some(3)).await;
        last.assert_status(StatusCode::OK);
        let entries = last.body["entries"].as_array().unwrap();
        let seen: Vec<_> = entries
            .iter()
            .map(|e| (e["kind"].clone(), e["epoch"].clone()))
            .collect();
        assert_eq!(seen, [(json!("commit"), json!(3))], "{}", last.body);
        let removal = entries[0]["seq"].as_u64().unwrap();
        // ... and nothing after it, nor from before he joined: that is an unknown group to him.
        for after in [Some(removal), None] {
            read_log(&state, &bob, &group_id, after)
                .await
                .assert_error(StatusCode::NOT_FOUND, "group_not_found");
        }
        send_text(&state, &mut bob, &group_id, "b2", "still here?")
            .await
            .assert_error(StatusCode::NOT_FOUND, "group_not_found");
        let listing = get_plain(&state, &bob.token, "/api/groups").await;
        assert_eq!(
            listing.body["groups"],
            json!([]),
            "Bob's listing drops the group"
        );
        let listing = get_plain(&state, &alice.token, "/api/groups").await;
        assert_eq!(listing.body["groups"][0]["memberCount"], 1);
    }
}

#[tokio::test]
async fn commits_that_correct_members_would_reject_or_that_add_ghosts_are_refused() {
    let backend = backends().remove(0);
    let state = state_for(&backend, false).await;
    let [alice_user, bob_user] = users(&state, ["alice", "bob"]).await;
    let mut alice = member(&state, &alice_user, "laptop").await;
    let bob = member(&state, &bob_user, "phone").await;
    let group_id = create(&state, &mut alice).await;
    let commits = format!("/api/groups/{group_id}/commits");
    let epoch = |state: State, token: String, group_id: String| async move {
        let path = format!("/api/groups/{group_id}");
        get(&state, &token, &path, ("groupId", &group_id), &[])
            .await
            .body["epoch"]
            .as_u64()
    };

    // A key package of a device Bob never registered (the server cannot invent one and slip it in).
    let ghost = TestDevice::new(&bob_user.id, "ghost");
    let ghost_package = {
        let message = MlsMessageIn::tls_deserialize_exact_bytes(&ghost.key_package()).unwrap();
        let MlsMessageBodyIn::KeyPackage(package) = message.extract() else {
            panic!()
        };
        package
            .validate(alice.device.provider.crypto(), ProtocolVersion::Mls10)
            .unwrap()
    };
    let (provider, signer) = (&alice.device.provider, &alice.device.signer);
    let (commit, welcome, _) = alice
        .group
        .as_mut()
        .unwrap()
        .add_members(provider, signer, &[ghost_package])
        .unwrap();
    alice.merge();
    post_bundle(&state, &commits, &alice, &commit, Some(&welcome))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "unknown_device");
    assert_eq!(
        epoch(state.clone(), alice.token.clone(), group_id.clone()).await,
        Some(0),
        "nothing changed"
    );

    // Garbage and truncated bodies, a commit without its Welcome, and a bundle from a non-committer.
    let good_info = alice.group_info();
    let info_bytes = unb64(&good_info);
    let truncated_info = b64(&info_bytes[..info_bytes.len() - 7]);
    // The wrong wire format is a malformed field, as docs/openapi.yaml says (400), not an invalid one (422).
    let private_message = {
        let (provider, signer) = (&alice.device.provider, &alice.device.signer);
        let group = alice.group.as_mut().unwrap();
        b64_message(&group.create_message(provider, signer, b"hi").unwrap())
    };
    for (body, status, code) in [
        (
            json!({"commit": b64_message(&commit), "welcome": b64_message(&welcome), "groupInfo": truncated_info}),
            StatusCode::BAD_REQUEST,
            "invalid_group_info",
        ),
        (
            json!({"commit": private_message, "groupInfo": good_info}),
            StatusCode::BAD_REQUEST,
            "invalid_commit",
        ),
        (
            json!({"commit": b64(b"junk"), "groupInfo": good_info}),
            StatusCode::BAD_REQUEST,
            "invalid_commit",
        ),
        (
            json!({"commit": "!!", "groupInfo": good_info}),
            StatusCode::BAD_REQUEST,
            "invalid_base64",
        ),
        (
            json!({"commit": b64_message(&commit), "groupInfo": good_info}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_welcome",
        ),
        (
            json!({"groupInfo": good_info}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
    ] {
        post(&state, &commits, &alice.token, body)
            .await
            .assert_error(status, code);
    }
    post(
        &state,
        &commits,
        &bob.token,
        json!({"commit": b64_message(&commit), "groupInfo": good_info}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "group_not_found");
    let messages = format!("/api/groups/{group_id}/messages");
    for (body, status, code) in [
        // A commit posted as an application message.
        (
            json!({"clientMessageId": "m1", "message": b64_message(&commit)}),
            StatusCode::BAD_REQUEST,
            "invalid_application_message",
        ),
        // A message over 1 MiB in a body well under the 2 MiB limit.
        (
            json!({"clientMessageId": "m2", "message": b64(&vec![0; 1024 * 1024 + 1])}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "field_too_large",
        ),
    ] {
        post(&state, &messages, &alice.token, body)
            .await
            .assert_error(status, code);
    }
    // A claim names a user id: anything else is a bad request, not an unknown user.
    post(
        &state,
        "/api/key-packages/claim",
        &alice.token,
        json!({"userId": "bob"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(
        epoch(state.clone(), alice.token.clone(), group_id.clone()).await,
        Some(0)
    );

    // Creating a group needs a real GroupInfo of the caller's device at epoch 0.
    post(
        &state,
        "/api/groups",
        &bob.token,
        json!({"groupInfo": good_info, "ratchetTree": b64(&alice.tree())}),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_group");
    post(
        &state,
        "/api/groups",
        &bob.token,
        json!({"groupInfo": b64(b"junk"), "ratchetTree": b64(b"junk")}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_group_info");
    get(
        &state,
        &alice.token,
        "/api/groups/ffff",
        ("groupId", "ffff"),
        &[],
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "group_not_found");
}

#[tokio::test]
async fn a_member_that_lost_its_state_rejoins_from_the_group_info_and_reads_on() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let [alice_user, bob_user] = users(&state, ["alice", "bob"]).await;
        let mut alice = member(&state, &alice_user, "laptop").await;
        let mut bob = member(&state, &bob_user, "phone").await;
        upload_key_packages(&state, &bob.token, &[bob.device.key_package()])
            .await
            .assert_status(StatusCode::CREATED);
        let group_id = create(&state, &mut alice).await;
        let commits = format!("/api/groups/{group_id}/commits");
        let packages = claim(&state, &alice, &bob_user.id).await;
        let (commit, welcome) = alice.add(&packages);
        post_bundle(&state, &commits, &alice, &commit, Some(&welcome))
            .await
            .assert_status(StatusCode::CREATED);
        bob.join(&b64_message(&welcome), &alice.tree());

        // Bob loses his state: the group's GroupInfo and ratchet tree are all he needs to rejoin.
        let group_path = format!("/api/groups/{group_id}");
        let view = get(&state, &bob.token, &group_path, ("groupId", &group_id), &[]).await;
        view.assert_status(StatusCode::OK);
        let info = unb64(view.body["groupInfo"].as_str().unwrap());
        let tree = unb64(view.body["ratchetTree"].as_str().unwrap());
        assert_eq!(tree, alice.tree(), "the server's tree is the members' tree");
        let (group, commit) = bob.device.rejoin(&info, &tree);
        bob.group = Some(group);
        let body = json!({"commit": b64(&commit), "groupInfo": bob.group_info()});
        let rejoined = post(&state, &commits, &bob.token, body).await;
        rejoined.assert_status(StatusCode::CREATED);
        assert_eq!(rejoined.body["epoch"], 2);

        // Alice processes the rejoin from the log; they talk on in epoch 2.
        let log = read_log(&state, &alice, &group_id, Some(1)).await;
        alice.process(log.body["entries"].as_array().unwrap());
        assert_eq!(alice.group.as_ref().unwrap().epoch().as_u64(), 2);
        send_text(&state, &mut bob, &group_id, "b1", "back again")
            .await
            .assert_status(StatusCode::CREATED);
        let log = read_log(&state, &alice, &group_id, Some(2)).await;
        assert_eq!(
            alice.process(log.body["entries"].as_array().unwrap()),
            ["back again"]
        );

        // Rejoining is for members: once removed, Bob's external commit is refused, the group unchanged.
        let (provider, signer) = (&alice.device.provider, &alice.device.signer);
        let bob_leaf = alice
            .group
            .as_ref()
            .unwrap()
            .members()
            .find(|m| m.signature_key == bob.device.signature_key())
            .unwrap()
            .index;
        let (commit, _, _) = alice
            .group
            .as_mut()
            .unwrap()
            .remove_members(provider, signer, &[bob_leaf])
            .unwrap();
        alice.merge();
        post_bundle(&state, &commits, &alice, &commit, None)
            .await
            .assert_status(StatusCode::CREATED);
        let info = alice.device.group_info(alice.group.as_ref().unwrap());
        let (_, commit) = bob.device.rejoin(&info, &alice.tree());
        let body = json!({"commit": b64(&commit), "groupInfo": b64(&info)});
        post(&state, &commits, &bob.token, body)
            .await
            .assert_error(StatusCode::NOT_FOUND, "group_not_found");
        let view = get(
            &state,
            &alice.token,
            &group_path,
            ("groupId", &group_id),
            &[],
        )
        .await;
        assert_eq!(view.body["epoch"], 3);
    }
}

/// Review finding N1: an account claims one of a victim's one-time key packages and adds it to two groups. The
/// second add is refused (409 `key_package_reused`) and writes nothing; a package no claim handed to the
/// committer is refused (422 `key_package_not_claimed`).
#[tokio::test]
async fn a_one_time_key_package_joins_one_group_only() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let [mallory_user, bob_user, alice_user] = users(&state, ["mallory", "bob", "alice"]).await;
        let mut mallory = member(&state, &mallory_user, "laptop").await;
        let mut alice = member(&state, &alice_user, "laptop").await;
        let bob = member(&state, &bob_user, "phone").await;
        upload_key_packages(&state, &bob.token, &[bob.device.key_package()])
            .await
            .assert_status(StatusCode::CREATED);
        let packages = claim(&state, &mallory, &bob_user.id).await;
        assert_eq!(packages.len(), 1);

        let mut groups = Vec::new();
        for _ in 0..2 {
            let group_id = create(&state, &mut mallory).await;
            let (commit, welcome) = mallory.add(&packages);
            let path = format!("/api/groups/{group_id}/commits");
            let reply = post_bundle(&state, &path, &mallory, &commit, Some(&welcome)).await;
            groups.push((group_id, reply));
        }
        groups[0].1.assert_status(StatusCode::CREATED);
        groups[1]
            .1
            .assert_error(StatusCode::CONFLICT, "key_package_reused");
        // Bob has the first group's Welcome only; the second group is where it was.
        let inbox = get_plain(&state, &bob.token, "/api/welcomes").await;
        let welcomes = inbox.body["welcomes"].as_array().unwrap();
        assert_eq!(welcomes.len(), 1, "{}", inbox.body);
        assert_eq!(welcomes[0]["groupId"], groups[0].0.as_str());
        let second = &groups[1].0;
        let view = get(
            &state,
            &mallory.token,
            &format!("/api/groups/{second}"),
            ("groupId", second),
            &[],
        )
        .await;
        assert_eq!(view.body["epoch"], 0, "{}", view.body);

        // A package that reached Alice without a claim (out of band, or replayed from a log) is refused.
        let group_id = create(&state, &mut alice).await;
        let (commit, welcome) = alice.add(&packages);
        let path = format!("/api/groups/{group_id}/commits");
        post_bundle(&state, &path, &alice, &commit, Some(&welcome))
            .await
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "key_package_not_claimed");
    }
}

/// An MLS varint (RFC 9420 §2.1.2): its value and its length in bytes.
fn read_varint(bytes: &[u8]) -> (usize, usize) {
    let len = 1 << (bytes[0] >> 6);
    let value = bytes[1..len]
        .iter()
        .fold(usize::from(bytes[0] & 0x3f), |v, b| {
            (v << 8) | usize::from(*b)
        });
    (value, len)
}

fn write_varint(value: usize) -> Vec<u8> {
    match value {
        0..64 => vec![u8::try_from(value).unwrap()],
        64..16384 => (u16::try_from(value).unwrap() | 0x4000)
            .to_be_bytes()
            .to_vec(),
        _ => (u32::try_from(value).unwrap() | 0x8000_0000)
            .to_be_bytes()
            .to_vec(),
    }
}

/// `welcome` (an `MLSMessage` Welcome) with its encrypted GroupInfo replaced by `size` junk bytes: still well
/// formed and addressed to the same key packages, which is all the server can check.
fn inflate_welcome(welcome: &[u8], size: usize) -> Vec<u8> {
    // version (2), wire format (2), cipher suite (2), secrets<V>, encrypted_group_info<V>
    let (secrets, secrets_len) = read_varint(&welcome[6..]);
    let info_at = 6 + secrets_len + secrets;
    let (info, info_len) = read_varint(&welcome[info_at..]);
    assert_eq!(info_at + info_len + info, welcome.len(), "the layout read");
    let mut inflated = welcome[..info_at].to_vec();
    inflated.extend(write_varint(size));
    inflated.extend(std::iter::repeat_n(0x5a, size));
    inflated
}

/// A group of `before` members built by `creator` alone (no server), then a commit adding `added` more: the
/// size of its Welcome, with the ratchet tree extension as the SDKs send it.
fn measured_welcome(before: usize, added: usize) -> usize {
    let creator = TestDevice::new("u_creator", "laptop");
    let config = MlsGroupCreateConfig::builder()
        .ciphersuite(Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build();
    let mut group = MlsGroup::new(
        &creator.provider,
        &creator.signer,
        &config,
        creator.credential.clone(),
    )
    .unwrap();
    // Realistic ids: 20-character user ids, short device ids.
    let packages = |from: usize, count: usize| -> Vec<KeyPackage> {
        (from..from + count)
            .map(|i| TestDevice::new(&format!("u_{i:018}"), "laptop").key_package_object())
            .collect()
    };
    if before > 1 {
        group
            .add_members(&creator.provider, &creator.signer, &packages(0, before - 1))
            .unwrap();
        group.merge_pending_commit(&creator.provider).unwrap();
    }
    let (_, welcome, _) = group
        .add_members(&creator.provider, &creator.signer, &packages(before, added))
        .unwrap();
    welcome.to_bytes().unwrap().len()
}

/// How the Welcome bound was chosen: real Welcomes (openmls, ratchet tree in the GroupInfo) stay below a
/// quarter of it at every size measured (about 200 bytes per member and 160 per added member; 822 bytes for a
/// group of two, 20.8 KB for 101 members, 27.5 KB for 100 + 20).
#[test]
fn real_welcomes_stay_below_a_quarter_of_the_bound() {
    for (before, added) in [
        (1, 1),
        (1, 10),
        (1, 50),
        (10, 1),
        (50, 1),
        (100, 1),
        (100, 20),
    ] {
        let size = measured_welcome(before, added);
        let bound = e2ee_api::limits::max_welcome_bytes(added, before + added);
        eprintln!("welcome: {before} members + {added} added = {size} bytes (bound {bound})");
        assert!(
            size * 4 <= bound,
            "{before} + {added}: {size} bytes is more than a quarter of {bound}"
        );
    }
}

#[tokio::test]
async fn a_welcome_larger_than_the_group_needs_is_refused_and_nothing_is_written() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let [alice_user, bob_user] = users(&state, ["alice", "bob"]).await;
        let mut alice = member(&state, &alice_user, "laptop").await;
        let bob = member(&state, &bob_user, "phone").await;
        upload_key_packages(&state, &bob.token, &[bob.device.key_package()])
            .await
            .assert_status(StatusCode::CREATED);
        let group_id = create(&state, &mut alice).await;
        let commits = format!("/api/groups/{group_id}/commits");
        let packages = claim(&state, &alice, &bob_user.id).await;
        let (commit, welcome) = alice.add(&packages);
        // 1 MiB of junk in the encrypted GroupInfo of a Welcome to a group of two (the old limit was 2 MiB).
        let inflated = inflate_welcome(&welcome.to_bytes().unwrap(), 1024 * 1024);
        let body = json!({
            "commit": b64_message(&commit),
            "welcome": b64(&inflated),
            "groupInfo": alice.group_info(),
        });
        let refused = post(&state, &commits, &alice.token, body).await;
        refused.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "welcome_too_large");
        let inbox = get_plain(&state, &bob.token, "/api/welcomes").await;
        assert_eq!(inbox.body["welcomes"], json!([]), "no Welcome stored");
        let view = get(
            &state,
            &alice.token,
            &format!("/api/groups/{group_id}"),
            ("groupId", &group_id),
            &[],
        )
        .await;
        assert_eq!(view.body["epoch"], 0, "no commit stored");
        // The real Welcome of the same commit is accepted.
        post_bundle(&state, &commits, &alice, &commit, Some(&welcome))
            .await
            .assert_status(StatusCode::CREATED);
    }
}

#[tokio::test]
async fn group_creations_group_messages_and_commits_past_their_quotas_are_429() {
    let backend = backends().remove(0);
    let quotas = e2ee_api::config::Quotas {
        groups_per_day: 2,
        commits_per_hour: 1,
        group_messages_per_hour: 2,
        ..Default::default()
    };
    let state = state_with_quotas(&backend, false, quotas).await;
    let [alice_user, bob_user] = users(&state, ["alice", "bob"]).await;
    let mut alice = member(&state, &alice_user, "laptop").await;
    let mut bob = member(&state, &bob_user, "phone").await;
    create(&state, &mut alice).await;
    let group_id = create(&state, &mut alice).await;
    // Group creations per user and UTC day; another user has a quota of its own.
    let other = alice.device.new_group();
    let body = json!({"groupInfo": b64(&alice.device.group_info(&other)), "ratchetTree": b64(&ratchet_tree(&other))});
    let refused = post(&state, "/api/groups", &alice.token, body).await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded");
    assert!(
        refused
            .retry_after()
            .is_some_and(|s| (1..=86_400).contains(&s))
    );
    create(&state, &mut bob).await;
    // Group messages per device and hour.
    for id in ["m1", "m2"] {
        send_text(&state, &mut alice, &group_id, id, "hi")
            .await
            .assert_status(StatusCode::CREATED);
    }
    let refused = send_text(&state, &mut alice, &group_id, "m3", "hi").await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded");
    assert!(
        refused
            .retry_after()
            .is_some_and(|s| (1..=3600).contains(&s))
    );
    // Commits per device and hour.
    let commits = format!("/api/groups/{group_id}/commits");
    for expected in [StatusCode::CREATED, StatusCode::TOO_MANY_REQUESTS] {
        let (provider, signer) = (&alice.device.provider, &alice.device.signer);
        let bundle = alice
            .group
            .as_mut()
            .unwrap()
            .self_update(provider, signer, LeafNodeParameters::default())
            .unwrap();
        alice.merge();
        let reply = post_bundle(&state, &commits, &alice, &bundle.into_commit(), None).await;
        reply.assert_status(expected);
    }
}

#[tokio::test]
async fn the_welcome_inbox_is_read_in_pages_past_fifty() {
    let backend = backends().remove(0);
    let quotas = e2ee_api::config::Quotas {
        claims_per_target_per_hour: 100,
        ..Default::default()
    };
    let state = state_with_quotas(&backend, false, quotas).await;
    let [alice_user, bob_user] = users(&state, ["alice", "bob"]).await;
    let mut alice = member(&state, &alice_user, "laptop").await;
    let bob = member(&state, &bob_user, "phone").await;
    let packages: Vec<Vec<u8>> = (0..51).map(|_| bob.device.key_package()).collect();
    upload_key_packages(&state, &bob.token, &packages)
        .await
        .assert_status(StatusCode::CREATED);
    let mut created = Vec::new();
    for _ in 0..51 {
        let group_id = create(&state, &mut alice).await;
        let packages = claim(&state, &alice, &bob_user.id).await;
        let (commit, welcome) = alice.add(&packages);
        let commits = format!("/api/groups/{group_id}/commits");
        post_bundle(&state, &commits, &alice, &commit, Some(&welcome))
            .await
            .assert_status(StatusCode::CREATED);
        created.push(group_id);
    }
    let inbox = |after: Option<String>| {
        let state = state.clone();
        let token = bob.token.clone();
        async move {
            let query: Vec<(&str, &str)> = after.iter().map(|a| ("after", a.as_str())).collect();
            route(
                &state,
                Call::new(Method::GET, "/api/welcomes")
                    .token(&token)
                    .query(&query),
            )
            .await
        }
    };
    let first = inbox(None).await;
    first.assert_status(StatusCode::OK);
    assert_eq!(first.body["welcomes"].as_array().unwrap().len(), 50);
    let next = first.body["nextAfter"].as_str().unwrap().to_owned();
    let second = inbox(Some(next)).await;
    second.assert_status(StatusCode::OK);
    assert_eq!(second.body["welcomes"].as_array().unwrap().len(), 1);
    assert_eq!(second.body.get("nextAfter"), None, "the end");
    let read: Vec<&str> = [&first, &second]
        .iter()
        .flat_map(|page| page.body["welcomes"].as_array().unwrap())
        .map(|w| w["groupId"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = created.iter().map(String::as_str).collect();
    let mut got = read.clone();
    expected.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, expected, "each Welcome exactly once");
    for bad in ["x", "1.2", "-1.0.ab", "1.2.XYZ", "9223372036854775807.0.ab"] {
        inbox(Some(bad.to_owned()))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_after");
    }
}
