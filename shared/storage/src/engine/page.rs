//! One page of messages: where it starts, how many rows a backend reads, when it stops, and its cursor.

use e2ee_protocol::Order;
use e2ee_protocol::paging::{MAX_PAGE_BYTES, PAGE_MESSAGE_OVERHEAD_BYTES};

use crate::cursor::{self, Position, Scope};
use crate::error::StoreResult;
use crate::model::{Message, Page, PageRequest};
use crate::validate;

/// What one message counts against [`MAX_PAGE_BYTES`]: its envelope's compact JSON length plus
/// [`PAGE_MESSAGE_OVERHEAD_BYTES`] for the other fields.
pub(crate) fn page_bytes(message: &Message) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(bytes.len());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Serializing a `Value` cannot fail; if it ever did, count the message as a full page (it then travels alone).
    let envelope = match serde_json::to_writer(&mut counter, &message.envelope) {
        Ok(()) => counter.0,
        Err(_) => MAX_PAGE_BYTES,
    };
    envelope.saturating_add(PAGE_MESSAGE_OVERHEAD_BYTES)
}

/// Collects one page while a backend streams the rows of a page query in page order, and says when to stop
/// reading: after `limit` messages plus one (which only tells that more follow), or as soon as the next message
/// would take the page beyond [`MAX_PAGE_BYTES`]. Backends query at most [`PageCollector::fetch`] rows after
/// [`PageCollector::after`] and offer them one by one, so a page of large envelopes never holds much more than
/// the page in memory.
#[derive(Debug)]
pub(crate) struct PageCollector<'a> {
    scope: Scope<'a>,
    after: Option<Position>,
    limit: usize,
    items: Vec<Message>,
    bytes: usize,
    /// A message beyond the page was seen (the page is cut by count or by size).
    more: bool,
}

impl<'a> PageCollector<'a> {
    /// The first `limit` messages of `scope`.
    pub(crate) fn first(scope: Scope<'a>, limit: u32) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        PageCollector {
            scope,
            after: None,
            limit,
            items: Vec::with_capacity(limit.min(128)),
            bytes: 0,
            more: false,
        }
    }

    /// The page `request` asks for: its limit checked, its cursor decoded for `scope` (both `Invalid` if bad).
    pub(crate) fn start(scope: Scope<'a>, request: &PageRequest) -> StoreResult<Self> {
        let limit = validate::page_limit(request.limit)?;
        Ok(PageCollector {
            after: cursor::decode(scope, request.cursor.as_deref())?,
            ..Self::first(scope, limit)
        })
    }

    /// Where the page starts: strictly after this position (for newest-first history: strictly before it).
    pub(crate) fn after(&self) -> Option<&Position> {
        self.after.as_ref()
    }

    /// The order of the rows: by `(created_at, id)` ascending (unread, history `asc`) or descending.
    pub(crate) fn order(&self) -> Order {
        match self.scope {
            Scope::Unread { .. } => Order::Asc,
            Scope::History { order, .. } => order,
        }
    }

    /// How many rows a backend needs at most: the page, plus one to learn whether more follow.
    pub(crate) fn fetch(&self) -> u32 {
        u32::try_from(self.limit.saturating_add(1)).unwrap_or(u32::MAX)
    }

    /// Offers the next message in page order. `false`: the page is complete, stop reading.
    pub(crate) fn offer(&mut self, message: Message) -> bool {
        if self.more {
            return false;
        }
        if self.items.len() >= self.limit {
            self.more = true;
            return false;
        }
        let size = page_bytes(&message);
        // The first message always fits, so a page is never empty while messages are available.
        if !self.items.is_empty() && self.bytes.saturating_add(size) > MAX_PAGE_BYTES {
            self.more = true;
            return false;
        }
        self.bytes = self.bytes.saturating_add(size);
        self.items.push(message);
        true
    }

    /// The messages collected so far (in page order).
    pub(crate) fn items(&self) -> &[Message] {
        &self.items
    }

    pub(crate) fn into_page(self) -> StoreResult<Page<Message>> {
        let next_cursor = match (self.more, self.items.last()) {
            (true, Some(last)) => Some(cursor::encode(
                self.scope,
                &Position {
                    created_at: last.created_at,
                    id: last.id.clone(),
                },
            )?),
            _ => None,
        };
        Ok(Page {
            items: self.items,
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNREAD: Scope<'static> = Scope::Unread { receiver_id: "u_b" };

    fn message_with_envelope_bytes(id: u8, bytes: usize) -> Message {
        Message {
            id: format!("m_{:032x}", id),
            chat_id: "c_1".into(),
            sender_id: "u_a".into(),
            receiver_id: "u_b".into(),
            client_message_id: id.to_string(),
            // `{"c":"…"}` is 8 bytes around the string.
            envelope: serde_json::json!({ "c": "x".repeat(bytes - 8) }),
            created_at: i64::from(id),
            read_at: None,
        }
    }

    #[test]
    fn page_bytes_are_the_compact_envelope_plus_the_overhead() {
        let message = message_with_envelope_bytes(1, 1000);
        assert_eq!(
            serde_json::to_vec(&message.envelope).map(|v| v.len()).ok(),
            Some(1000)
        );
        assert_eq!(page_bytes(&message), 1000 + PAGE_MESSAGE_OVERHEAD_BYTES);
    }

    #[test]
    fn a_page_stops_at_its_limit_and_knows_more_follow() {
        let mut page = PageCollector::first(UNREAD, 2);
        assert_eq!(page.fetch(), 3);
        assert!(page.offer(message_with_envelope_bytes(1, 100)));
        assert!(page.offer(message_with_envelope_bytes(2, 100)));
        assert!(!page.offer(message_with_envelope_bytes(3, 100)));
        assert!(
            !page.offer(message_with_envelope_bytes(4, 100)),
            "stays closed"
        );
        let page = page.into_page();
        assert!(matches!(&page, Ok(p) if p.items.len() == 2 && p.next_cursor.is_some()));
    }

    #[test]
    fn a_page_stops_before_the_message_that_would_exceed_the_byte_bound() {
        let each = MAX_PAGE_BYTES / 3 - PAGE_MESSAGE_OVERHEAD_BYTES;
        let mut page = PageCollector::first(UNREAD, 100);
        for id in 1..=3 {
            assert!(
                page.offer(message_with_envelope_bytes(id, each)),
                "{id} fits exactly"
            );
        }
        assert!(!page.offer(message_with_envelope_bytes(4, 9)));
        let page = page.into_page();
        assert!(matches!(&page, Ok(p) if p.items.len() == 3 && p.next_cursor.is_some()));
    }

    #[test]
    fn an_oversized_message_still_makes_a_page_of_one() {
        let mut page = PageCollector::first(UNREAD, 100);
        assert!(page.offer(message_with_envelope_bytes(1, MAX_PAGE_BYTES * 2)));
        assert!(!page.offer(message_with_envelope_bytes(2, 9)));
        let page = page.into_page();
        assert!(matches!(&page, Ok(p) if p.items.len() == 1 && p.next_cursor.is_some()));

        // Alone and last: no cursor.
        let mut page = PageCollector::first(UNREAD, 100);
        assert!(page.offer(message_with_envelope_bytes(1, MAX_PAGE_BYTES * 2)));
        let page = page.into_page();
        assert!(matches!(&page, Ok(p) if p.items.len() == 1 && p.next_cursor.is_none()));
    }

    #[test]
    fn a_page_starts_after_its_cursor() {
        let first = PageCollector::start(UNREAD, &PageRequest::default());
        assert!(matches!(&first, Ok(page) if page.after().is_none() && page.fetch() == 51));
        let mut page = PageCollector::first(UNREAD, 1);
        page.offer(message_with_envelope_bytes(1, 100));
        page.offer(message_with_envelope_bytes(2, 100));
        let cursor = page.into_page().ok().and_then(|p| p.next_cursor);
        let next = PageCollector::start(
            UNREAD,
            &PageRequest {
                limit: None,
                cursor,
            },
        );
        assert_eq!(
            next.ok().and_then(|p| p.after().map(|a| a.created_at)),
            Some(1)
        );
    }
}
