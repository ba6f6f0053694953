//! Signed key operations (docs/security.md): the requests that register or revoke a key.
//!
//! Both sign a [`KeyStatement`] (`operation`, the caller's user id, the id of the key being registered or
//! revoked, a fresh time): registration with the new key itself (the proof of possession), and, once the
//! account has any key, a second factor — a signature by the account's current active key over the same
//! statement, or the account password.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use e2ee_crypto::{KeyId, KeyOperation, KeyStatement, PrivateKey};
use e2ee_protocol::{KeyAuthorization, RegisterKeyRequest, RevokeKeyRequest};
use zeroize::Zeroizing;

use crate::error::Result;

/// The second factor of a key operation.
pub enum SecondFactor<'a> {
    /// None: only for an account's very first key.
    None,
    /// A signature by the account's active key (this device holds it).
    ActiveKey(&'a PrivateKey),
    /// The account password.
    Password(Zeroizing<String>),
}

impl std::fmt::Debug for SecondFactor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecondFactor::None => f.write_str("None"),
            SecondFactor::ActiveKey(key) => write!(f, "ActiveKey({})", key.key_id()),
            SecondFactor::Password(_) => f.write_str("Password(<redacted>)"),
        }
    }
}

fn encode(signature: &[u8]) -> String {
    STANDARD.encode(signature)
}

/// A key statement and its second factor, as a request's `authorization` / `password` fields.
struct Authorized<'a> {
    statement: KeyStatement<'a>,
    authorization: Option<KeyAuthorization>,
    password: Option<Zeroizing<String>>,
}

/// The statement `operation(user_id, key_id, created_at)`, authorized by `second`.
fn authorize<'a>(
    operation: KeyOperation,
    user_id: &'a str,
    key_id: KeyId,
    created_at: u64,
    second: SecondFactor<'_>,
) -> Result<Authorized<'a>> {
    let statement = KeyStatement {
        operation,
        user_id,
        key_id,
        created_at,
    };
    let (authorization, password) = match second {
        SecondFactor::None => (None, None),
        SecondFactor::ActiveKey(active) => (
            Some(KeyAuthorization {
                key_id: active.key_id().to_string(),
                signature: encode(&statement.sign(active)?),
            }),
            None,
        ),
        SecondFactor::Password(password) => (None, Some(password)),
    };
    Ok(Authorized {
        statement,
        authorization,
        password,
    })
}

/// `register-key` for `new_key`: the statement `register(user_id, new key id, created_at)`, signed by the
/// new key (`proof`) and, as the second factor, by the active key or replaced by the password.
pub fn register_request(
    user_id: &str,
    new_key: &PrivateKey,
    second: SecondFactor<'_>,
    created_at: u64,
) -> Result<RegisterKeyRequest> {
    let authorized = authorize(
        KeyOperation::Register,
        user_id,
        new_key.key_id(),
        created_at,
        second,
    )?;
    Ok(RegisterKeyRequest {
        public_key: new_key.public_key().to_spki_pem()?,
        created_at,
        proof: encode(&authorized.statement.sign(new_key)?),
        authorization: authorized.authorization,
        password: authorized.password,
    })
}

/// `revoke-key` for `key_id`: the statement `revoke(user_id, key_id, created_at)` signed by the active key
/// (which may be the key being revoked), or the password.
pub fn revoke_request(
    user_id: &str,
    key_id: KeyId,
    second: SecondFactor<'_>,
    created_at: u64,
) -> Result<RevokeKeyRequest> {
    let authorized = authorize(KeyOperation::Revoke, user_id, key_id, created_at, second)?;
    Ok(RevokeKeyRequest {
        key_id: key_id.to_string(),
        created_at,
        authorization: authorized.authorization,
        password: authorized.password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use e2ee_crypto::KeySize;

    fn decode(text: &str) -> Vec<u8> {
        STANDARD.decode(text).unwrap()
    }

    #[test]
    fn registration_is_proven_by_the_new_key_and_authorized_by_the_active_one() {
        let old = PrivateKey::generate(KeySize::Rsa2048).unwrap();
        let new = PrivateKey::generate(KeySize::Rsa2048).unwrap();
        let request =
            register_request("u_alice", &new, SecondFactor::ActiveKey(&old), 1234).unwrap();
        let statement = KeyStatement {
            operation: KeyOperation::Register,
            user_id: "u_alice",
            key_id: new.key_id(),
            created_at: 1234,
        };
        assert_eq!(request.created_at, 1234);
        assert_eq!(request.public_key, new.public_key().to_spki_pem().unwrap());
        statement
            .verify(new.public_key(), &decode(&request.proof))
            .unwrap();
        let authorization = request.authorization.unwrap();
        // The statement names the new key; the authorization names its signer.
        assert_eq!(authorization.key_id, old.key_id().to_string());
        statement
            .verify(old.public_key(), &decode(&authorization.signature))
            .unwrap();
        assert!(
            statement
                .verify(new.public_key(), &decode(&authorization.signature))
                .is_err()
        );
        assert!(request.password.is_none());

        // A first key: the proof only. Without a usable old key: the password instead.
        let first = register_request("u_alice", &new, SecondFactor::None, 1).unwrap();
        assert!(first.authorization.is_none() && first.password.is_none());
        let with_password = register_request(
            "u_alice",
            &new,
            SecondFactor::Password(Zeroizing::new("pw".into())),
            1,
        )
        .unwrap();
        assert!(with_password.authorization.is_none());
        assert_eq!(
            with_password.password.as_deref().map(String::as_str),
            Some("pw")
        );
        let json = serde_json::to_value(&with_password).unwrap();
        assert!(json.get("authorization").is_none(), "{json}");
        assert!(json["createdAt"].is_u64() && json["proof"].is_string());
    }

    #[test]
    fn revocation_is_signed_over_the_revoked_key_id() {
        let active = PrivateKey::generate(KeySize::Rsa2048).unwrap();
        let target = KeyId::parse(&"ab".repeat(32)).unwrap();
        let request =
            revoke_request("u_bob", target, SecondFactor::ActiveKey(&active), 99).unwrap();
        assert_eq!(request.key_id, "ab".repeat(32));
        let authorization = request.authorization.unwrap();
        assert_eq!(authorization.key_id, active.key_id().to_string());
        KeyStatement {
            operation: KeyOperation::Revoke,
            user_id: "u_bob",
            key_id: target,
            created_at: 99,
        }
        .verify(active.public_key(), &decode(&authorization.signature))
        .unwrap();
        // Not valid as a registration statement.
        assert!(
            KeyStatement {
                operation: KeyOperation::Register,
                user_id: "u_bob",
                key_id: target,
                created_at: 99,
            }
            .verify(active.public_key(), &decode(&authorization.signature))
            .is_err()
        );
        assert!(
            format!(
                "{:?}",
                SecondFactor::Password(Zeroizing::new("secret".into()))
            )
            .contains("redacted")
        );
    }
}
