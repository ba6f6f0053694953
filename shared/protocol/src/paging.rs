//! Paged reads: the page size rules, the byte cap, and the order of chat history.

use serde::{Deserialize, Serialize};

/// Page size when a request names none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page size a request may ask for (`?limit=`).
pub const MAX_PAGE_SIZE: u32 = 100;

/// A page of messages holds at most this many bytes (besides at most `limit` messages), so that a page always
/// fits into a Lambda response (6 MB). A message counts as its envelope's compact JSON length plus
/// [`PAGE_MESSAGE_OVERHEAD_BYTES`]. A page holds at least one message whenever one is available, even a larger
/// one; a page cut short by size has a `nextCursor` like a full one.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// What a message counts on a page beyond its envelope: its other fields (ids of up to 128 bytes, the chat id,
/// times) and their JSON keys as the API renders them stay below this.
pub const PAGE_MESSAGE_OVERHEAD_BYTES: usize = 512;

/// `asc` (oldest first, the default) or `desc` (newest first), for chat history (`?order=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

impl Order {
    /// The query-string value.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }

    /// The inverse of [`Order::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        [Order::Asc, Order::Desc]
            .into_iter()
            .find(|order| order.as_str() == name)
    }
}
