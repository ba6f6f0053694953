//! Against the real served API (`cargo lambda watch`, started by scripts/test.sh): two users exchange
//! client-side envelopes; then the database files are scanned for plaintexts and private keys.
//!
//! Needs E2EE_SERVER (base URL) and E2EE_DATA_DIR (the SQLite directory the server uses). In CI (CI=true)
//! their absence fails the test.

use e2ee_test_kit::User;
use e2ee_test_kit::envelopes::{envelope, open_text};
use e2ee_test_kit::random_hex;
use e2ee_test_kit::served::{Server, StatusCode};
use serde_json::{Value, json};

const PASSWORD_PREFIX: &str = "long enough password ";

/// A user with a device key (only the public half goes to the server, with a proof that the device holds
/// the private half: docs/security.md), found by name in the directory.
async fn account(server: &Server, name: &str) -> User {
    let password = format!("{PASSWORD_PREFIX}{}", random_hex(4));
    server.account(name, &password).await
}

fn seal_text(from: &User, to: &User, text: &str, message_id: &str) -> Value {
    envelope(from, to, text, message_id, true)
}

#[tokio::test]
async fn two_users_chat_and_the_server_keeps_no_secret() {
    let Some((server, served)) = Server::from_env() else {
        return;
    };
    let alice = account(&server, "alice").await;
    let bob = account(&server, "bob").await;
    let marker = random_hex(8);
    let texts: Vec<String> = (0..7)
        .map(|i| format!("secret plaintext {marker} number {i}"))
        .collect();

    // Alternate directions.
    for (i, text) in texts.iter().enumerate() {
        let (from, to) = if i % 2 == 0 {
            (&alice, &bob)
        } else {
            (&bob, &alice)
        };
        let body =
            json!({"receiverId": to.id, "envelope": seal_text(from, to, text, &format!("m-{i}"))});
        let (status, reply) = server.post("/api/messages/send", &from.token, body).await;
        assert_eq!(status, StatusCode::CREATED, "{reply}");
    }

    // Bob's inbox: alice's four messages, oldest first; he decrypts and marks them read.
    let inbox_path = format!("/api/messages/receive/{}", bob.id);
    let (status, inbox) = server.get(&inbox_path, &bob.token).await;
    assert_eq!(status, StatusCode::OK, "{inbox}");
    let unread = inbox["messages"].as_array().unwrap();
    let read: Vec<String> = unread
        .iter()
        .map(|m| open_text(&bob, &alice, &m["envelope"]))
        .collect();
    assert_eq!(read, texts.iter().step_by(2).cloned().collect::<Vec<_>>());
    for message in unread {
        let path = format!(
            "/api/messages/mark-read/{}",
            message["messageId"].as_str().unwrap()
        );
        let (status, body) = server.patch(&path, &bob.token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Alice cannot mark Bob's mail.
        assert_eq!(
            server.patch(&path, &alice.token).await.0,
            StatusCode::FORBIDDEN
        );
    }
    let (_, inbox) = server.get(&inbox_path, &bob.token).await;
    assert!(inbox["messages"].as_array().unwrap().is_empty());

    // History, three at a time: every message once, in order, readable by both.
    let chat_id = unread[0]["chatId"].as_str().unwrap().to_owned();
    let mut history = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/messages/history/{chat_id}?limit=3");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, page) = server.get(&path, &alice.token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for message in page["messages"].as_array().unwrap() {
            let sender = if message["senderId"] == alice.id.as_str() {
                &alice
            } else {
                &bob
            };
            history.push(open_text(&alice, sender, &message["envelope"]));
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(history, texts);
    // To a stranger the chat does not exist.
    let eve = account(&server, "eve").await;
    let history_path = format!("/api/messages/history/{chat_id}");
    let (status, _) = server.get(&history_path, &eve.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A server-generated key pair: the private key is returned once and must not be kept anywhere.
    let (status, generated) = server
        .post("/api/crypto/generate-keys", &eve.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{generated}");
    assert!(
        generated["privateKey"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY")
    );

    // Scan every database file the server wrote (SQLite main file, WAL, journal).
    let mut scanned = 0;
    for (path, bytes) in served.stored_files() {
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("dev-jwt-secret"))
        {
            continue;
        }
        scanned += bytes.len();
        let haystack = String::from_utf8_lossy(&bytes);
        assert!(
            !haystack.contains(&marker),
            "plaintext marker found in {}",
            path.display()
        );
        assert!(
            !haystack.contains("PRIVATE KEY"),
            "a private key marker found in {}",
            path.display()
        );
        // Passwords are stored only as argon2id hashes.
        assert!(
            !haystack.contains(PASSWORD_PREFIX),
            "a password found in {}",
            path.display()
        );
    }
    assert!(
        scanned > 0,
        "no database files in {}",
        served.data_dir.display()
    );
}
