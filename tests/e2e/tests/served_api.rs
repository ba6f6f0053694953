//! Against the real served API (`cargo lambda watch`, started by scripts/test.sh): two users exchange
//! client-side envelopes; then the database files are scanned for plaintexts and private keys.
//!
//! Needs E2EE_SERVER (base URL) and E2EE_DATA_DIR (the SQLite directory the server uses). In CI (CI=true)
//! their absence fails the test.

use std::path::PathBuf;

use base64::Engine as _;
use e2ee_crypto::{
    Envelope, KeyOperation, KeySize, KeyStatement, PrivateKey, Recipient, SealParams,
};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD_PREFIX: &str = "long enough password ";

struct Server {
    base: String,
    http: Client,
}

fn environment() -> Option<(String, PathBuf)> {
    match (std::env::var("E2EE_SERVER"), std::env::var("E2EE_DATA_DIR")) {
        (Ok(server), Ok(dir)) => Some((server, PathBuf::from(dir))),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("E2EE_SERVER and E2EE_DATA_DIR must be set in CI")
        }
        _ => {
            eprintln!(
                "skipping: run through scripts/test.sh (needs E2EE_SERVER and E2EE_DATA_DIR)"
            );
            None
        }
    }
}

impl Server {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("server reachable");
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }
}

struct Account {
    id: String,
    token: String,
    key: PrivateKey,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

async fn account(server: &Server, name: &str) -> Account {
    let username = format!("{name}_{}", random_hex(4));
    let password = format!("{PASSWORD_PREFIX}{}", random_hex(4));
    let (status, body) = server
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["userId"].as_str().unwrap().to_owned();
    let (status, body) = server
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    // The device generates its key; only the public half goes to the server, with a proof that the device
    // holds the private half (docs/security.md).
    let key = PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let public = key.public_key().to_spki_pem().unwrap();
    let statement = KeyStatement {
        operation: KeyOperation::Register,
        user_id: &id,
        key_id: key.key_id(),
        created_at: now_ms(),
    };
    let proof = base64::engine::general_purpose::STANDARD.encode(statement.sign(&key).unwrap());
    let (status, body) = server
        .call(
            Method::POST,
            "/api/crypto/register-key",
            Some(&token),
            Some(json!({"publicKey": public, "createdAt": statement.created_at, "proof": proof})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, me) = server
        .call(
            Method::GET,
            &format!("/api/users/{username}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(me["userId"].as_str(), Some(id.as_str()));
    Account { id, token, key }
}

fn seal_text(from: &Account, to: &Account, text: &str, message_id: &str) -> Value {
    let recipients = [
        Recipient {
            user_id: &to.id,
            key: to.key.public_key(),
        },
        Recipient {
            user_id: &from.id,
            key: from.key.public_key(),
        },
    ];
    let envelope = e2ee_crypto::seal(
        text.as_bytes(),
        &SealParams {
            sender_id: &from.id,
            message_id,
            created_at: 1_764_145_653_000,
            recipients: &recipients,
            sign_with: Some(&from.key),
        },
    )
    .unwrap();
    serde_json::from_str(&envelope.to_json()).unwrap()
}

fn open_text(reader: &Account, sender: &Account, envelope: &Value) -> String {
    let envelope = Envelope::from_json(envelope.to_string().as_bytes()).unwrap();
    let opened = e2ee_crypto::open(&envelope, &reader.key, Some(sender.key.public_key())).unwrap();
    String::from_utf8(opened.plaintext.to_vec()).unwrap()
}

#[tokio::test]
async fn two_users_chat_and_the_server_keeps_no_secret() {
    let Some((base, data_dir)) = environment() else {
        return;
    };
    let server = Server {
        base,
        http: Client::new(),
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
        let (status, reply) = server
            .call(
                Method::POST,
                "/api/messages/send",
                Some(&from.token),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{reply}");
    }

    // Bob's inbox: alice's four messages, oldest first; he decrypts and marks them read.
    let (status, inbox) = server
        .call(
            Method::GET,
            &format!("/api/messages/receive/{}", bob.id),
            Some(&bob.token),
            None,
        )
        .await;
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
        let (status, body) = server
            .call(Method::PATCH, &path, Some(&bob.token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Alice cannot mark Bob's mail.
        assert_eq!(
            server
                .call(Method::PATCH, &path, Some(&alice.token), None)
                .await
                .0,
            StatusCode::FORBIDDEN
        );
    }
    let (_, inbox) = server
        .call(
            Method::GET,
            &format!("/api/messages/receive/{}", bob.id),
            Some(&bob.token),
            None,
        )
        .await;
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
        let (status, page) = server
            .call(Method::GET, &path, Some(&alice.token), None)
            .await;
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
    let (status, _) = server
        .call(
            Method::GET,
            &format!("/api/messages/history/{chat_id}"),
            Some(&eve.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A server-generated key pair: the private key is returned once and must not be kept anywhere.
    let (status, generated) = server
        .call(
            Method::POST,
            "/api/crypto/generate-keys",
            Some(&eve.token),
            Some(json!({})),
        )
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
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
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
    assert!(scanned > 0, "no database files in {}", data_dir.display());
}
