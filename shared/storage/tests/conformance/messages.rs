//! MessageStore conformance.

use std::collections::HashSet;

use e2ee_storage::{
    Inserted, Message, NewMessage, Order, PageRequest, StoreError, Stores, chat_id,
};

use crate::support::{concurrently, new_message};

const ALICE: &str = "u_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BOB: &str = "u_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const CAROL: &str = "u_cccccccccccccccccccccccccccccccc";

async fn send(stores: &Stores, sender: &str, receiver: &str, client_message_id: &str) -> Message {
    match stores
        .messages
        .insert(new_message(sender, receiver, client_message_id))
        .await
    {
        Ok(Inserted::Created(message)) => message,
        other => panic!("expected a new message, got {other:?}"),
    }
}

fn page(limit: Option<u32>, cursor: Option<String>) -> PageRequest {
    PageRequest { limit, cursor }
}

fn ids(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.id.as_str()).collect()
}

fn assert_bad_request<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::BadRequest(_))),
        "{what}: expected BadRequest, got {result:?}"
    );
}

pub async fn messages_insert_and_get(stores: Stores) {
    let new = new_message(ALICE, BOB, "client-1");
    let message = match stores.messages.insert(new.clone()).await.expect("insert") {
        Inserted::Created(message) => message,
        Inserted::Existing(message) => panic!("first insert reported as existing: {message:?}"),
    };
    assert!(
        message.id.starts_with("m_") && message.id.len() == 34,
        "id shape: {}",
        message.id
    );
    assert!(
        message.id[2..]
            .chars()
            .all(|c| matches!(c, '0'..='9' | 'a'..='f'))
    );
    assert_eq!(message.chat_id, chat_id(ALICE, BOB));
    assert_eq!(message.chat_id, chat_id(BOB, ALICE));
    assert_eq!(message.sender_id, ALICE);
    assert_eq!(message.receiver_id, BOB);
    assert_eq!(message.client_message_id, "client-1");
    assert_eq!(message.envelope, new.envelope);
    assert_eq!(message.read_at, None);

    let read = stores
        .messages
        .get(&message.id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        read, message,
        "the stored message, envelope included, reads back unchanged"
    );
    assert_eq!(
        stores
            .messages
            .get("m_00000000000000000000000000000000")
            .await
            .expect("get"),
        None
    );
}

pub async fn messages_insert_is_idempotent_per_sender_and_client_id(stores: Stores) {
    let original = send(&stores, ALICE, BOB, "retry-me").await;
    // A retry returns the original unchanged, even if the retried request differs.
    let mut retry = new_message(ALICE, CAROL, "retry-me");
    retry.envelope = serde_json::json!({ "different": true });
    assert_eq!(
        stores.messages.insert(retry).await.expect("retry"),
        Inserted::Existing(original.clone())
    );
    // The same client id from another sender is another message.
    let other = send(&stores, BOB, ALICE, "retry-me").await;
    assert_ne!(other.id, original.id);
    let history = stores
        .messages
        .history(&chat_id(ALICE, BOB), Order::Asc, PageRequest::default())
        .await
        .expect("history");
    assert_eq!(
        ids(&history.items),
        [original.id.as_str(), other.id.as_str()]
    );
}

pub async fn messages_concurrent_retries_create_exactly_one_message(stores: Stores) {
    let results = concurrently(16, |_| {
        let messages = stores.messages.clone();
        async move {
            messages
                .insert(new_message(ALICE, BOB, "sent-16-times"))
                .await
        }
    })
    .await;
    let results: Vec<Inserted> = results.into_iter().map(|r| r.expect("insert")).collect();
    let created = results
        .iter()
        .filter(|r| matches!(r, Inserted::Created(_)))
        .count();
    assert_eq!(created, 1, "{results:#?}");
    let first = results[0].message().clone();
    assert!(
        results.iter().all(|r| r.message() == &first),
        "every retry returns the same message"
    );
    let history = stores
        .messages
        .history(&first.chat_id, Order::Asc, PageRequest::default())
        .await
        .expect("history");
    assert_eq!(history.items, vec![first]);
}

pub async fn messages_history_pagination_is_stable_under_inserts(stores: Stores) {
    let chat = chat_id(ALICE, BOB);
    let mut sent = Vec::new();
    for index in 0..250 {
        let (sender, receiver) = if index % 3 == 0 {
            (BOB, ALICE)
        } else {
            (ALICE, BOB)
        };
        sent.push(send(&stores, sender, receiver, &format!("m{index}")).await);
        if index % 25 == 0 {
            // Traffic in another chat must not show up.
            send(&stores, ALICE, CAROL, &format!("noise{index}")).await;
        }
    }

    // Oldest first, 40 per page, one new message written between pages: it shows up at the end.
    let mut seen: Vec<Message> = Vec::new();
    let mut cursor = None;
    for page_number in 0.. {
        assert!(page_number < 50, "pagination does not terminate");
        let page = stores
            .messages
            .history(&chat, Order::Asc, page(Some(40), cursor))
            .await
            .expect("page");
        assert!(page.items.len() <= 40);
        seen.extend(page.items);
        let Some(next) = page.next_cursor else { break };
        cursor = Some(next);
        sent.push(send(&stores, ALICE, BOB, &format!("between-asc-{page_number}")).await);
    }
    assert_eq!(
        ids(&seen),
        ids(&sent),
        "every message exactly once, in the order written"
    );
    let unique: HashSet<_> = seen.iter().map(|m| &m.id).collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    assert!(
        seen.windows(2)
            .all(|w| (w[0].created_at, &w[0].id) < (w[1].created_at, &w[1].id))
    );

    // Newest first with the default page size: messages written while paging are newer than the first page,
    // so the walk returns exactly the messages that existed when it started, newest first.
    let snapshot: Vec<Message> = sent.iter().rev().cloned().collect();
    let mut seen: Vec<Message> = Vec::new();
    let mut cursor = None;
    for page_number in 0.. {
        assert!(page_number < 50, "pagination does not terminate");
        let page = stores
            .messages
            .history(&chat, Order::Desc, page(None, cursor))
            .await
            .expect("page");
        assert!(page.items.len() <= 50, "default page size");
        if page_number == 0 {
            assert_eq!(page.items.len(), 50, "a full first page");
        }
        seen.extend(page.items);
        let Some(next) = page.next_cursor else { break };
        cursor = Some(next);
        send(&stores, BOB, ALICE, &format!("between-desc-{page_number}")).await;
    }
    assert_eq!(ids(&seen), ids(&snapshot));
}

pub async fn messages_sequential_sends_keep_their_order_within_a_millisecond(stores: Stores) {
    let mut sent = Vec::new();
    for index in 0..30 {
        sent.push(send(&stores, ALICE, BOB, &format!("burst{index}")).await);
    }
    assert!(
        sent.windows(2).all(|w| w[0].created_at < w[1].created_at),
        "created_at strictly increases"
    );
    let history = stores
        .messages
        .history(&chat_id(BOB, ALICE), Order::Asc, PageRequest::default())
        .await
        .expect("history");
    assert_eq!(ids(&history.items), ids(&sent));
    assert_eq!(history.next_cursor, None);
}

pub async fn messages_history_covers_both_directions_of_one_chat_only(stores: Stores) {
    let first = send(&stores, ALICE, BOB, "1").await;
    let reply = send(&stores, BOB, ALICE, "2").await;
    send(&stores, ALICE, CAROL, "3").await;
    send(&stores, CAROL, BOB, "4").await;
    for chat in [chat_id(ALICE, BOB), chat_id(BOB, ALICE)] {
        let history = stores
            .messages
            .history(&chat, Order::Asc, PageRequest::default())
            .await
            .expect("history");
        assert_eq!(ids(&history.items), [first.id.as_str(), reply.id.as_str()]);
        let newest_first = stores
            .messages
            .history(&chat, Order::Desc, PageRequest::default())
            .await
            .expect("history");
        assert_eq!(
            ids(&newest_first.items),
            [reply.id.as_str(), first.id.as_str()]
        );
    }
    let empty = stores
        .messages
        .history(
            &chat_id(BOB, "u_nobody"),
            Order::Asc,
            PageRequest::default(),
        )
        .await
        .expect("history");
    assert_eq!(
        empty,
        e2ee_storage::Page {
            items: vec![],
            next_cursor: None
        }
    );
}

pub async fn messages_unread_pagination_oldest_first(stores: Stores) {
    let mut expected = Vec::new();
    for index in 0..150 {
        if index % 5 == 0 {
            expected.push(send(&stores, CAROL, BOB, &format!("c{index}")).await);
        } else {
            expected.push(send(&stores, ALICE, BOB, &format!("a{index}")).await);
        }
        if index % 10 == 0 {
            // Neither Bob's own messages nor messages to others are his unread.
            send(&stores, BOB, ALICE, &format!("b{index}")).await;
            send(&stores, ALICE, CAROL, &format!("x{index}")).await;
        }
    }
    expected.sort_by(|x, y| (x.created_at, &x.id).cmp(&(y.created_at, &y.id)));

    let mut seen: Vec<Message> = Vec::new();
    let mut marked = Vec::new();
    let mut cursor = None;
    for page_number in 0.. {
        assert!(page_number < 20, "pagination does not terminate");
        let page = stores
            .messages
            .unread_for(BOB, page(Some(50), cursor))
            .await
            .expect("unread page");
        assert!(page.items.len() <= 50);
        // Reading some of a page while paging must not disturb the following pages.
        for message in page.items.iter().take(10) {
            stores
                .messages
                .mark_read(&message.id, BOB)
                .await
                .expect("mark read");
            marked.push(message.id.clone());
        }
        seen.extend(page.items);
        let Some(next) = page.next_cursor else { break };
        cursor = Some(next);
    }
    assert_eq!(
        ids(&seen),
        ids(&expected),
        "all of Bob's unread messages, oldest first, once each"
    );
    assert!(seen.iter().all(|m| m.read_at.is_none()));

    // What is left unread afterwards: everything not marked.
    let remaining = stores
        .messages
        .unread_for(BOB, page(Some(100), None))
        .await
        .expect("unread");
    let still_unread: Vec<&str> = expected
        .iter()
        .filter(|m| !marked.contains(&m.id))
        .map(|m| m.id.as_str())
        .take(100)
        .collect();
    assert_eq!(ids(&remaining.items), still_unread);
    assert!(
        remaining.next_cursor.is_some(),
        "150 - 30 marked = 120 unread, more than one page of 100"
    );

    assert!(
        stores
            .messages
            .unread_for("u_nobody", PageRequest::default())
            .await
            .expect("unread")
            .items
            .is_empty()
    );
}

pub async fn messages_mark_read_authorization_and_idempotency(stores: Stores) {
    let message = send(&stores, ALICE, BOB, "to-bob").await;

    for caller in [ALICE, CAROL] {
        let result = stores.messages.mark_read(&message.id, caller).await;
        assert!(
            matches!(result, Err(StoreError::Forbidden)),
            "{caller}: {result:?}"
        );
    }
    assert_eq!(
        stores
            .messages
            .get(&message.id)
            .await
            .expect("get")
            .and_then(|m| m.read_at),
        None
    );
    let result = stores
        .messages
        .mark_read("m_00000000000000000000000000000000", BOB)
        .await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");

    let read = stores
        .messages
        .mark_read(&message.id, BOB)
        .await
        .expect("mark read");
    let read_at = read.read_at.expect("read_at set");
    assert_eq!(
        Message {
            read_at: None,
            ..read.clone()
        },
        message,
        "nothing else changed"
    );
    let again = stores
        .messages
        .mark_read(&message.id, BOB)
        .await
        .expect("mark read again");
    assert_eq!(
        again.read_at,
        Some(read_at),
        "a second call returns the first read_at"
    );
    assert_eq!(
        stores
            .messages
            .get(&message.id)
            .await
            .expect("get")
            .and_then(|m| m.read_at),
        Some(read_at)
    );
    assert!(
        stores
            .messages
            .unread_for(BOB, PageRequest::default())
            .await
            .expect("unread")
            .items
            .is_empty()
    );
    let result = stores.messages.mark_read(&message.id, ALICE).await;
    assert!(
        matches!(result, Err(StoreError::Forbidden)),
        "still forbidden after reading: {result:?}"
    );

    // Concurrent calls all agree on one read_at.
    let other = send(&stores, CAROL, BOB, "concurrent").await;
    let results = concurrently(8, |_| {
        let messages = stores.messages.clone();
        let id = other.id.clone();
        async move { messages.mark_read(&id, BOB).await }
    })
    .await;
    let read_ats: HashSet<_> = results
        .into_iter()
        .map(|r| r.expect("mark read").read_at)
        .collect();
    assert_eq!(read_ats.len(), 1, "{read_ats:?}");
    assert!(read_ats.iter().all(Option::is_some));
}

pub async fn messages_bad_cursors_and_limits_are_bad_requests(stores: Stores) {
    for index in 0..5 {
        send(&stores, ALICE, BOB, &format!("ab{index}")).await;
        send(&stores, ALICE, CAROL, &format!("ac{index}")).await;
    }
    let chat_ab = chat_id(ALICE, BOB);
    let chat_ac = chat_id(ALICE, CAROL);
    let first = stores
        .messages
        .history(&chat_ab, Order::Asc, page(Some(2), None))
        .await
        .expect("page");
    let cursor = first.next_cursor.expect("more pages");
    // The cursor works where it belongs.
    let second = stores
        .messages
        .history(&chat_ab, Order::Asc, page(Some(2), Some(cursor.clone())))
        .await
        .expect("page");
    assert_eq!(second.items.len(), 2);

    let truncated = cursor[..cursor.len() - 4].to_owned();
    for garbage in [
        "",
        "!!!",
        "not-a-cursor",
        "eyJ2IjoxfQ",
        truncated.as_str(),
        &"A".repeat(4096),
    ] {
        assert_bad_request(
            stores
                .messages
                .history(&chat_ab, Order::Asc, page(None, Some(garbage.to_owned())))
                .await,
            &format!("history cursor {garbage:.20}"),
        );
        assert_bad_request(
            stores
                .messages
                .unread_for(BOB, page(None, Some(garbage.to_owned())))
                .await,
            &format!("unread cursor {garbage:.20}"),
        );
    }
    // A valid cursor used for another query.
    assert_bad_request(
        stores
            .messages
            .history(&chat_ac, Order::Asc, page(None, Some(cursor.clone())))
            .await,
        "cursor of another chat",
    );
    assert_bad_request(
        stores
            .messages
            .history(&chat_ab, Order::Desc, page(None, Some(cursor.clone())))
            .await,
        "cursor of the other order",
    );
    assert_bad_request(
        stores
            .messages
            .unread_for(BOB, page(None, Some(cursor.clone())))
            .await,
        "history cursor for unread",
    );
    let unread = stores
        .messages
        .unread_for(CAROL, page(Some(2), None))
        .await
        .expect("unread");
    let carol_cursor = unread.next_cursor.expect("more unread");
    assert_bad_request(
        stores
            .messages
            .unread_for(BOB, page(None, Some(carol_cursor)))
            .await,
        "unread cursor of another receiver",
    );

    for limit in [0, 101, u32::MAX] {
        assert_bad_request(
            stores
                .messages
                .history(&chat_ab, Order::Asc, page(Some(limit), None))
                .await,
            &format!("history limit {limit}"),
        );
        assert_bad_request(
            stores
                .messages
                .unread_for(BOB, page(Some(limit), None))
                .await,
            &format!("unread limit {limit}"),
        );
    }
    for limit in [1, 100] {
        let page = stores
            .messages
            .history(&chat_ab, Order::Asc, page(Some(limit), None))
            .await
            .expect("valid limit");
        assert_eq!(page.items.len(), (limit as usize).min(5));
    }
}

pub async fn messages_invalid_input_is_bad_request(stores: Stores) {
    let valid = new_message(ALICE, BOB, "x");
    let cases = [
        (
            "array envelope",
            NewMessage {
                envelope: serde_json::json!([1, 2]),
                ..valid.clone()
            },
        ),
        (
            "string envelope",
            NewMessage {
                envelope: serde_json::json!("{}"),
                ..valid.clone()
            },
        ),
        (
            "null envelope",
            NewMessage {
                envelope: serde_json::Value::Null,
                ..valid.clone()
            },
        ),
        (
            "empty client id",
            NewMessage {
                client_message_id: String::new(),
                ..valid.clone()
            },
        ),
        (
            "long client id",
            NewMessage {
                client_message_id: "x".repeat(129),
                ..valid.clone()
            },
        ),
        (
            "control char in sender",
            NewMessage {
                sender_id: "u_\u{0}".into(),
                ..valid.clone()
            },
        ),
        (
            "empty receiver",
            NewMessage {
                receiver_id: String::new(),
                ..valid.clone()
            },
        ),
    ];
    for (what, message) in cases {
        assert_bad_request(stores.messages.insert(message).await, what);
    }
    let history = stores
        .messages
        .history(&chat_id(ALICE, BOB), Order::Asc, PageRequest::default())
        .await
        .expect("history");
    assert!(history.items.is_empty(), "nothing was stored");
}

pub async fn messages_chat_participants_are_recorded_with_the_first_message(stores: Stores) {
    let ab = chat_id(ALICE, BOB);
    assert_eq!(
        stores
            .messages
            .chat_participants(&ab)
            .await
            .expect("lookup"),
        None,
        "no message yet: unknown chat"
    );
    for not_a_chat in ["", "c_1", "not a chat id", &"c".repeat(5000)] {
        assert_eq!(
            stores
                .messages
                .chat_participants(not_a_chat)
                .await
                .expect("lookup"),
            None
        );
    }

    send(&stores, ALICE, BOB, "first").await;
    let participants = Some([ALICE.to_owned(), BOB.to_owned()]);
    assert_eq!(
        stores
            .messages
            .chat_participants(&ab)
            .await
            .expect("lookup"),
        participants
    );
    assert_eq!(
        stores
            .messages
            .chat_participants(&chat_id(BOB, ALICE))
            .await
            .expect("lookup"),
        participants
    );
    // A reply and a retry change nothing.
    send(&stores, BOB, ALICE, "reply").await;
    stores
        .messages
        .insert(new_message(ALICE, BOB, "first"))
        .await
        .expect("retry");
    assert_eq!(
        stores
            .messages
            .chat_participants(&ab)
            .await
            .expect("lookup"),
        participants
    );

    // First message in the other direction: the receiver sorts first; the participants are sorted bytewise.
    send(&stores, CAROL, BOB, "from carol").await;
    assert_eq!(
        stores
            .messages
            .chat_participants(&chat_id(CAROL, BOB))
            .await
            .expect("lookup"),
        Some([BOB.to_owned(), CAROL.to_owned()])
    );
    let (upper, lower) = ("u_Z", "u_a");
    send(&stores, lower, upper, "bytewise").await;
    assert_eq!(
        stores
            .messages
            .chat_participants(&chat_id(upper, lower))
            .await
            .expect("lookup"),
        Some([upper.to_owned(), lower.to_owned()]),
        "'Z' (0x5A) sorts before 'a' (0x61)"
    );
    // A chat with oneself has the same user twice.
    send(&stores, ALICE, ALICE, "note to self").await;
    assert_eq!(
        stores
            .messages
            .chat_participants(&chat_id(ALICE, ALICE))
            .await
            .expect("lookup"),
        Some([ALICE.to_owned(), ALICE.to_owned()])
    );
    // Other chats stay unknown.
    assert_eq!(
        stores
            .messages
            .chat_participants(&chat_id(ALICE, CAROL))
            .await
            .expect("lookup"),
        None
    );
}

pub async fn messages_concurrent_first_messages_share_one_chat(stores: Stores) {
    let results = concurrently(16, |index| {
        let messages = stores.messages.clone();
        async move {
            let (sender, receiver) = if index % 2 == 0 {
                (ALICE, BOB)
            } else {
                (BOB, ALICE)
            };
            messages
                .insert(new_message(sender, receiver, &format!("first-{index}")))
                .await
        }
    })
    .await;
    let created: Vec<Message> = results
        .into_iter()
        .map(|r| match r.expect("insert") {
            Inserted::Created(message) => message,
            other => panic!("expected a new message, got {other:?}"),
        })
        .collect();
    let chat = chat_id(ALICE, BOB);
    assert_eq!(
        stores
            .messages
            .chat_participants(&chat)
            .await
            .expect("lookup"),
        Some([ALICE.to_owned(), BOB.to_owned()])
    );
    let history = stores
        .messages
        .history(&chat, Order::Asc, PageRequest::default())
        .await
        .expect("history");
    let stored: HashSet<&str> = ids(&history.items).into_iter().collect();
    let expected: HashSet<&str> = ids(&created).into_iter().collect();
    assert_eq!(stored, expected, "all 16 messages are stored");
    assert_eq!(history.items.len(), 16);
}

/// An envelope whose compact JSON is about `bytes` long.
fn envelope_of_size(
    sender: &str,
    receiver: &str,
    client_message_id: &str,
    bytes: usize,
) -> NewMessage {
    let mut message = new_message(sender, receiver, client_message_id);
    message.envelope["ciphertext"] = serde_json::Value::String("A".repeat(bytes));
    message
}

fn page_bytes(messages: &[Message]) -> usize {
    messages
        .iter()
        .map(|m| {
            serde_json::to_vec(&m.envelope).expect("serialize").len()
                + e2ee_storage::PAGE_MESSAGE_OVERHEAD_BYTES
        })
        .sum()
}

/// Walks every page of a query (with `limit`), checking the byte bound on each, and returns what it saw.
async fn walk<F, Fut>(limit: u32, mut next_page: F) -> (Vec<Message>, Vec<usize>)
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<e2ee_storage::Page<Message>, StoreError>>,
{
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor = None;
    for page_number in 0.. {
        assert!(page_number < 20, "pagination does not terminate");
        let page = next_page(page(Some(limit), cursor)).await.expect("page");
        assert!(
            !page.items.is_empty() || page_number == 0,
            "no empty page after a cursor"
        );
        assert!(page.items.len() <= limit as usize);
        let bytes = page_bytes(&page.items);
        assert!(
            bytes <= e2ee_storage::MAX_PAGE_BYTES || page.items.len() == 1,
            "page {page_number}: {bytes} bytes in {} messages",
            page.items.len()
        );
        sizes.push(page.items.len());
        seen.extend(page.items);
        let Some(next) = page.next_cursor else { break };
        cursor = Some(next);
    }
    (seen, sizes)
}

pub async fn messages_pages_are_capped_by_bytes(stores: Stores) {
    const LARGE: usize = 1_200_000;
    let mut sent = Vec::new();
    for index in 0..5 {
        let message = envelope_of_size(ALICE, BOB, &format!("large-{index}"), LARGE);
        match stores.messages.insert(message).await.expect("insert") {
            Inserted::Created(message) => sent.push(message),
            other => panic!("expected a new message, got {other:?}"),
        }
    }
    let chat = chat_id(ALICE, BOB);
    // 3 × 1.2 MB fit into 4 MiB, a fourth does not.
    let expected_sizes = vec![3, 2];

    let (seen, sizes) = walk(100, |request| {
        stores.messages.history(&chat, Order::Asc, request)
    })
    .await;
    assert_eq!(
        ids(&seen),
        ids(&sent),
        "history, oldest first: each once, in order"
    );
    assert_eq!(sizes, expected_sizes);

    let (seen, sizes) = walk(100, |request| {
        stores.messages.history(&chat, Order::Desc, request)
    })
    .await;
    let newest_first: Vec<Message> = sent.iter().rev().cloned().collect();
    assert_eq!(ids(&seen), ids(&newest_first), "history, newest first");
    assert_eq!(sizes, expected_sizes);

    let (seen, sizes) = walk(100, |request| stores.messages.unread_for(BOB, request)).await;
    assert_eq!(ids(&seen), ids(&sent), "unread, oldest first");
    assert_eq!(sizes, expected_sizes);

    // The count limit still applies when it is the tighter one.
    let (seen, sizes) = walk(2, |request| {
        stores.messages.history(&chat, Order::Asc, request)
    })
    .await;
    assert_eq!(ids(&seen), ids(&sent));
    assert_eq!(sizes, [2, 2, 1]);

    // Envelopes arrive intact.
    assert!(
        seen.iter()
            .all(|m| m.envelope["ciphertext"].as_str().map(str::len) == Some(LARGE))
    );
}

pub async fn messages_a_message_larger_than_a_page_travels_alone(stores: Stores) {
    let huge = envelope_of_size(ALICE, CAROL, "huge", e2ee_storage::MAX_PAGE_BYTES + 100_000);
    let huge = stores
        .messages
        .insert(huge)
        .await
        .expect("insert")
        .message()
        .clone();
    let small = send(&stores, CAROL, ALICE, "small").await;
    let chat = chat_id(ALICE, CAROL);

    let first = stores
        .messages
        .history(&chat, Order::Asc, page(None, None))
        .await
        .expect("page");
    assert_eq!(ids(&first.items), [huge.id.as_str()], "never an empty page");
    let cursor = first.next_cursor.expect("the page was cut by size");
    let second = stores
        .messages
        .history(&chat, Order::Asc, page(None, Some(cursor)))
        .await
        .expect("page");
    assert_eq!(ids(&second.items), [small.id.as_str()]);
    assert_eq!(second.next_cursor, None);

    let newest_first = stores
        .messages
        .history(&chat, Order::Desc, page(None, None))
        .await
        .expect("page");
    assert_eq!(
        ids(&newest_first.items),
        [small.id.as_str()],
        "the small one, then the huge one alone"
    );
    let cursor = newest_first.next_cursor.expect("cut by size");
    let rest = stores
        .messages
        .history(&chat, Order::Desc, page(None, Some(cursor)))
        .await
        .expect("page");
    assert_eq!(ids(&rest.items), [huge.id.as_str()]);
    assert_eq!(rest.next_cursor, None);

    let unread = stores
        .messages
        .unread_for(CAROL, page(None, None))
        .await
        .expect("unread");
    assert_eq!(ids(&unread.items), [huge.id.as_str()]);
    assert_eq!(unread.next_cursor, None, "nothing else is unread for Carol");
}
