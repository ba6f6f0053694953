//! Opaque page cursors: the position of the last item of a page, bound to the query that produced it.
//!
//! Format: base64url (no padding) of a small JSON object `{"v":1,"q":"<scope>","t":<created_at>,"i":"<id>"}`.
//! `q` is the first 16 hex characters of SHA-256 over the query kind, order and subject (receiver or chat id),
//! so a cursor handed to a different query (another chat, the other order, unread instead of history) is
//! rejected as `Invalid` (`cursor`) instead of silently starting somewhere unrelated. Cursors are not authenticated:
//! editing one only moves the caller's own position within a query it is already allowed to run.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use e2ee_protocol::Order;

use crate::error::{StoreError, StoreResult};
use crate::ids::is_message_id;
use crate::model::Millis;

const CURSOR_VERSION: u8 = 1;
/// A well-formed cursor is about 120 characters; refuse to decode anything much larger.
const MAX_CURSOR_CHARS: usize = 512;

/// A position in the total order `(created_at, id)` shared by every paginated query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) created_at: Millis,
    pub(crate) id: String,
}

/// The query a cursor belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    Unread { receiver_id: &'a str },
    History { chat_id: &'a str, order: Order },
}

impl Scope<'_> {
    fn tag(&self) -> String {
        let mut hasher = Sha256::new();
        match self {
            Scope::Unread { receiver_id } => {
                hasher.update(b"unread\0");
                hasher.update(receiver_id.as_bytes());
            }
            Scope::History { chat_id, order } => {
                // "history-asc\0" / "history-desc\0", as since version 1 of the format.
                hasher.update(b"history-");
                hasher.update(order.as_str().as_bytes());
                hasher.update(b"\0");
                hasher.update(chat_id.as_bytes());
            }
        }
        hex::encode(&hasher.finalize()[..8])
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorBody {
    v: u8,
    q: String,
    t: Millis,
    i: String,
}

pub(crate) fn encode(scope: Scope<'_>, position: &Position) -> StoreResult<String> {
    let body = CursorBody {
        v: CURSOR_VERSION,
        q: scope.tag(),
        t: position.created_at,
        i: position.id.clone(),
    };
    let json = serde_json::to_vec(&body)
        .map_err(|error| StoreError::Internal(format!("cannot encode cursor: {error}")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Decodes an optional cursor for `scope`. Anything malformed, foreign or from another version → `Invalid`.
pub(crate) fn decode(scope: Scope<'_>, cursor: Option<&str>) -> StoreResult<Option<Position>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let invalid = || StoreError::invalid("cursor", "invalid cursor");
    if cursor.is_empty() || cursor.len() > MAX_CURSOR_CHARS {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if body.v != CURSOR_VERSION || body.t < 0 || !is_message_id(&body.i) {
        return Err(invalid());
    }
    if body.q != scope.tag() {
        return Err(StoreError::invalid(
            "cursor",
            "cursor belongs to a different query",
        ));
    }
    Ok(Some(Position {
        created_at: body.t,
        id: body.i,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> Position {
        Position {
            created_at: 1_764_145_653_000,
            id: format!("m_{}", "ab".repeat(16)),
        }
    }

    fn is_invalid_cursor(result: StoreResult<Option<Position>>) -> bool {
        matches!(
            result,
            Err(StoreError::Invalid {
                field: "cursor",
                ..
            })
        )
    }

    const CHAT: Scope<'static> = Scope::History {
        chat_id: "c_1",
        order: Order::Asc,
    };

    #[test]
    fn round_trips_within_its_scope() {
        let cursor = encode(CHAT, &position()).ok();
        let decoded = cursor.as_deref().map(|c| decode(CHAT, Some(c)));
        assert!(matches!(decoded, Some(Ok(Some(p))) if p == position()));
    }

    #[test]
    fn rejects_cursors_of_other_queries() {
        let Ok(cursor) = encode(CHAT, &position()) else {
            panic!("encode failed")
        };
        let others = [
            Scope::History {
                chat_id: "c_2",
                order: Order::Asc,
            },
            Scope::History {
                chat_id: "c_1",
                order: Order::Desc,
            },
            Scope::Unread { receiver_id: "c_1" },
        ];
        for other in others {
            assert!(is_invalid_cursor(decode(other, Some(&cursor))));
        }
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        let Ok(valid) = encode(CHAT, &position()) else {
            panic!("encode failed")
        };
        let mut truncated = valid.clone();
        truncated.truncate(valid.len() / 2);
        let wrong_version = URL_SAFE_NO_PAD.encode(
            br#"{"v":2,"q":"0000000000000000","t":1,"i":"m_abababababababababababababababab"}"#,
        );
        let extra_field = URL_SAFE_NO_PAD.encode(br#"{"v":1,"q":"x","t":1,"i":"m_1","x":1}"#);
        let long = "A".repeat(10_000);
        for garbage in [
            "",
            "!!!",
            "bm90IGpzb24",
            truncated.as_str(),
            wrong_version.as_str(),
            extra_field.as_str(),
            long.as_str(),
            "eyJ2IjoxfQ",
        ] {
            assert!(
                is_invalid_cursor(decode(CHAT, Some(garbage))),
                "{garbage:?}"
            );
        }
    }
}
