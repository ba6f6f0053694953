//! A user with a device key registered through the true E2EE path (docs/security.md), written once for
//! every transport: the served API over HTTP and the handlers in-process both implement [`Api`].

use std::future::Future;

use e2ee_crypto::{KeyId, KeyOperation, KeySize, KeyStatement, PrivateKey};
use serde_json::{Value, json};

use crate::{b64, now_ms, random_hex};

/// A registered, logged-in user and the private key of its device.
pub struct User {
    pub id: String,
    pub username: String,
    pub token: String,
    pub key: PrivateKey,
}

/// One API call, whatever carries it: method, path, bearer token and JSON body.
pub struct Exchange<'a> {
    pub method: &'static str,
    pub path: &'a str,
    pub token: Option<&'a str>,
    pub body: Option<Value>,
}

/// A transport of [`Exchange`]s: the served API over HTTP, or the handlers in-process. Returns the status and
/// the JSON body (`Value::Null` when the reply is not JSON).
pub trait Api {
    fn exchange(&self, request: Exchange<'_>) -> impl Future<Output = (u16, Value)>;
}

/// A fresh 2048-bit device key.
pub fn test_key() -> PrivateKey {
    PrivateKey::generate(KeySize::Rsa2048).unwrap()
}

/// The statement `user_id` signs to perform `operation` on `key_id` now.
pub fn statement(operation: KeyOperation, user_id: &str, key_id: KeyId) -> KeyStatement<'_> {
    KeyStatement {
        operation,
        user_id,
        key_id,
        created_at: now_ms(),
    }
}

/// A `register-key` body for `new_key` with its proof of possession and, when given, an authorization
/// signature by `authorized_by` (the active key).
pub fn register_key_body(
    user_id: &str,
    new_key: &PrivateKey,
    authorized_by: Option<&PrivateKey>,
) -> Value {
    let statement = statement(KeyOperation::Register, user_id, new_key.key_id());
    let mut body = json!({
        "publicKey": new_key.public_key().to_spki_pem().unwrap(),
        "createdAt": statement.created_at,
        "proof": b64(&statement.sign(new_key).unwrap()),
    });
    if let Some(signer) = authorized_by {
        body["authorization"] = authorization(&statement, signer);
    }
    body
}

/// The `authorization` member of a key operation: `statement` signed by `signer`.
pub fn authorization(statement: &KeyStatement<'_>, signer: &PrivateKey) -> Value {
    json!({
        "keyId": signer.key_id().to_string(),
        "signature": b64(&statement.sign(signer).unwrap()),
    })
}

/// Registers `<prefix>_<random>` with `password`, logs in, and registers a device key generated here (only
/// the public half goes to the server, with its proof of possession). Each step must succeed.
pub async fn sign_up(api: &impl Api, prefix: &str, password: &str) -> User {
    let username = format!("{prefix}_{}", random_hex(4));
    let credentials = json!({"username": username, "password": password});
    let post = |path, token, body| Exchange {
        method: "POST",
        path,
        token,
        body: Some(body),
    };
    let (status, body) = api
        .exchange(post("/api/auth/register", None, credentials.clone()))
        .await;
    assert_eq!(status, 201, "register: {body}");
    let id = body["userId"].as_str().unwrap().to_owned();
    let (status, body) = api
        .exchange(post("/api/auth/login", None, credentials))
        .await;
    assert_eq!(status, 200, "login: {body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let key = test_key();
    let proof = register_key_body(&id, &key, None);
    let (status, body) = api
        .exchange(post("/api/crypto/register-key", Some(&token), proof))
        .await;
    assert_eq!(status, 201, "register-key: {body}");
    User {
        id,
        username,
        token,
        key,
    }
}
