//! Authenticated page cursors. The store's cursor says where a page ended; this wraps it in an HMAC under a
//! server key, bound to the caller and the query, so a cursor cannot be forged, edited, or used by anyone else
//! or for another query (docs/security.md, "History and inbox").
//!
//! Format: `<store cursor>.<base64url(HMAC-SHA256(key, field(scope) || field(store cursor)))>`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ee_protocol::ErrorCode;
use e2ee_protocol::Order;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// Longest cursor accepted; a well-formed one is about 170 characters.
const MAX_CURSOR_CHARS: usize = 600;
const KEY_CONTEXT: &[u8] = b"e2ee.cursor-key.v1";

/// The query a cursor belongs to.
#[derive(Debug, Clone, Copy)]
pub enum CursorScope<'a> {
    Inbox {
        caller: &'a str,
    },
    History {
        caller: &'a str,
        chat_id: &'a str,
        order: Order,
    },
}

impl CursorScope<'_> {
    fn bytes(&self) -> Vec<u8> {
        let parts: [&str; 4] = match *self {
            CursorScope::Inbox { caller } => ["inbox", caller, "", ""],
            CursorScope::History {
                caller,
                chat_id,
                order,
            } => [
                "history",
                caller,
                chat_id,
                match order {
                    Order::Asc => "asc",
                    Order::Desc => "desc",
                },
            ],
        };
        let mut out = Vec::with_capacity(128);
        for part in parts {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// Seals and opens cursors with one key per deployment.
#[derive(Clone)]
pub struct CursorKey {
    /// HMAC-SHA256 already keyed with the cursor key; cloned per cursor.
    keyed: HmacSha256,
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey([redacted])")
    }
}

impl CursorKey {
    /// Keyed with `HMAC-SHA256(secret, "e2ee.cursor-key.v1")`: a key of its own, derived from the JWT secret.
    /// (HMAC takes keys of any length, so this only fails if the hash library does.)
    pub fn derive(secret: &[u8]) -> Result<Self, hmac::digest::InvalidLength> {
        let mut derivation = HmacSha256::new_from_slice(secret)?;
        derivation.update(KEY_CONTEXT);
        let key = Zeroizing::new(derivation.finalize().into_bytes().to_vec());
        Ok(CursorKey {
            keyed: HmacSha256::new_from_slice(&key)?,
        })
    }

    fn mac(&self, scope: CursorScope<'_>, store_cursor: &str) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        let scope = scope.bytes();
        mac.update(&(scope.len() as u32).to_be_bytes());
        mac.update(&scope);
        mac.update(&(store_cursor.len() as u32).to_be_bytes());
        mac.update(store_cursor.as_bytes());
        mac
    }

    pub fn seal(&self, scope: CursorScope<'_>, store_cursor: &str) -> String {
        let tag = self.mac(scope, store_cursor).finalize().into_bytes();
        format!("{store_cursor}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The store cursor inside `cursor`, if it was sealed by this key for exactly this scope; otherwise
    /// `400 invalid_cursor` (one answer for forged, edited, foreign and malformed cursors).
    pub fn open(&self, scope: CursorScope<'_>, cursor: &str) -> Result<String, ApiError> {
        let invalid = || ApiError::bad_request(ErrorCode::InvalidCursor, "the cursor is invalid");
        if cursor.is_empty() || cursor.len() > MAX_CURSOR_CHARS {
            return Err(invalid());
        }
        let (store_cursor, tag) = cursor.rsplit_once('.').ok_or_else(invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        self.mac(scope, store_cursor)
            .verify_slice(&tag)
            .map_err(|_| invalid())?;
        Ok(store_cursor.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE_INBOX: CursorScope<'static> = CursorScope::Inbox { caller: "u_alice" };

    fn history(caller: &'static str, chat_id: &'static str, order: Order) -> CursorScope<'static> {
        CursorScope::History {
            caller,
            chat_id,
            order,
        }
    }

    #[test]
    fn opens_what_it_sealed_for_the_same_scope_only() {
        let key = CursorKey::derive(b"a secret of at least thirty-two bytes!!").unwrap();
        let scope = history("u_alice", "c_1", Order::Asc);
        let sealed = key.seal(scope, "storecursor");
        assert_eq!(
            key.open(scope, &sealed).ok().as_deref(),
            Some("storecursor")
        );
        for other in [
            history("u_bob", "c_1", Order::Asc),
            history("u_alice", "c_2", Order::Asc),
            history("u_alice", "c_1", Order::Desc),
            ALICE_INBOX,
        ] {
            assert_eq!(
                key.open(other, &sealed).map_err(|e| e.code),
                Err(e2ee_protocol::ErrorCode::InvalidCursor)
            );
        }
        let other_key = CursorKey::derive(b"another secret of at least thirty-two bytes").unwrap();
        assert!(other_key.open(scope, &sealed).is_err());
    }

    #[test]
    fn rejects_edits_and_garbage() {
        let key = CursorKey::derive(b"a secret of at least thirty-two bytes!!").unwrap();
        let sealed = key.seal(ALICE_INBOX, "storecursor");
        let (body, tag) = sealed.rsplit_once('.').unwrap_or_default();
        let edited_body = format!("storecursos.{tag}");
        let unsealed = body.to_owned();
        let long = "A".repeat(10_000);
        for bad in [
            "",
            ".",
            "storecursor",
            unsealed.as_str(),
            edited_body.as_str(),
            "storecursor.!!!",
            long.as_str(),
        ] {
            assert!(key.open(ALICE_INBOX, bad).is_err(), "{bad:?}");
        }
    }
}
