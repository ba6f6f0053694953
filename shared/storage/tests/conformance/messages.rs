//! MessageStore conformance.

use std::collections::HashSet;

use e2ee_protocol::chat_id;
use e2ee_protocol::paging::{MAX_PAGE_BYTES, PAGE_MESSAGE_OVERHEAD_BYTES};
use e2ee_storage::{Inserted, Message, NewMessage, Order, Page, PageRequest, StoreError, Stores};

use crate::support::{
    assert_invalid, assert_random_id, concurrently, created, get_message, history, ids,
    new_message, page, participants, send, unread,
};

const ALICE: &str = "u_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BOB: &str = "u_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const CAROL: &str = "u_cccccccccccccccccccccccccccccccc";

/// Marks `id` read as `caller`, which must succeed.
async fn mark_read(stores: &Stores, id: &str, caller: &str, what: &str) -> Message {
    let read = stores.messages.mark_read(id, caller).await;
    read.expect(what)
}

/// The first page (of the default size) of `chat`'s history in `order`.
async fn whole_history(stores: &Stores, chat: &str, order: Order) -> Page<Message> {
    history(stores, chat, order, PageRequest::default()).await
}

pub async fn messages_insert_and_get(stores: Stores) {
    let new = new_message(ALICE, BOB, "client-1");
    let message = created(stores.messages.insert(new.clone()).await);
    assert_random_id(&message.id, "m_");
    assert_eq!(message.chat_id, chat_id(ALICE, BOB));
    assert_eq!(message.chat_id, chat_id(BOB, ALICE));
    assert_eq!(message.sender_id, ALICE);
    assert_eq!(message.receiver_id, BOB);
    assert_eq!(message.client_message_id, "client-1");
    assert_eq!(message.envelope, new.envelope);
    assert_eq!(message.read_at, None);

    let read = get_message(&stores, &message.id).await.expect("stored");
    assert_eq!(
        read, message,
        "the stored message, envelope included, reads back unchanged"
    );
    assert_eq!(
        get_message(&stores, "m_00000000000000000000000000000000").await,
        None
    );
}

pub async fn messages_insert_is_idempotent_per_sender_and_client_id(stores: Stores) {
    let original = send(&stores, ALICE, BOB, "retry-me").await;
    // A retry of the same envelope returns the original unchanged, even if the rest of the request differs.
    let mut retry = new_message(ALICE, CAROL, "retry-me");
    retry.envelope = original.envelope.clone();
    assert_eq!(
        stores.messages.insert(retry).await.expect("retry"),
        Inserted::Existing(original.clone())
    );
    // Another envelope under a used client message id is refused, and stores nothing.
    let mut reused = new_message(ALICE, BOB, "retry-me");
    reused.envelope = serde_json::json!({ "different": true });
    let result = stores.messages.insert(reused).await;
    assert!(
        matches!(result, Err(StoreError::MessageIdReused)),
        "{result:?}"
    );
    // The same client id from another sender is another message.
    let other = send(&stores, BOB, ALICE, "retry-me").await;
    assert_ne!(other.id, original.id);
    let history = whole_history(&stores, &chat_id(ALICE, BOB), Order::Asc).await;
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
    let history = whole_history(&stores, &first.chat_id, Order::Asc).await;
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
        let page = history(&stores, &chat, Order::Asc, page(Some(40), cursor)).await;
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
        let page = history(&stores, &chat, Order::Desc, page(None, cursor)).await;
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
    let history = whole_history(&stores, &chat_id(BOB, ALICE), Order::Asc).await;
    assert_eq!(ids(&history.items), ids(&sent));
    assert_eq!(history.next_cursor, None);
}

pub async fn messages_history_covers_both_directions_of_one_chat_only(stores: Stores) {
    let first = send(&stores, ALICE, BOB, "1").await;
    let reply = send(&stores, BOB, ALICE, "2").await;
    send(&stores, ALICE, CAROL, "3").await;
    send(&stores, CAROL, BOB, "4").await;
    for chat in [chat_id(ALICE, BOB), chat_id(BOB, ALICE)] {
        let history = whole_history(&stores, &chat, Order::Asc).await;
        assert_eq!(ids(&history.items), [first.id.as_str(), reply.id.as_str()]);
        let newest_first = whole_history(&stores, &chat, Order::Desc).await;
        assert_eq!(
            ids(&newest_first.items),
            [reply.id.as_str(), first.id.as_str()]
        );
    }
    let empty = whole_history(&stores, &chat_id(BOB, "u_nobody"), Order::Asc).await;
    assert_eq!(
        empty,
        Page {
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
        let page = unread(&stores, BOB, page(Some(50), cursor)).await;
        assert!(page.items.len() <= 50);
        // Reading some of a page while paging must not disturb the following pages.
        for message in page.items.iter().take(10) {
            mark_read(&stores, &message.id, BOB, "mark read").await;
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
    let remaining = unread(&stores, BOB, page(Some(100), None)).await;
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
        unread(&stores, "u_nobody", PageRequest::default())
            .await
            .items
            .is_empty()
    );
}

pub async fn messages_mark_read_authorization_and_idempotency(stores: Stores) {
    let message = send(&stores, ALICE, BOB, "to-bob").await;

    for caller in [ALICE, CAROL] {
        let result = stores.messages.mark_read(&message.id, caller).await;
        assert!(
            matches!(result, Err(StoreError::NotTheReceiver)),
            "{caller}: {result:?}"
        );
    }
    assert_eq!(
        get_message(&stores, &message.id)
            .await
            .and_then(|m| m.read_at),
        None
    );
    let result = stores
        .messages
        .mark_read("m_00000000000000000000000000000000", BOB)
        .await;
    assert!(
        matches!(result, Err(StoreError::MessageNotFound)),
        "{result:?}"
    );

    let read = mark_read(&stores, &message.id, BOB, "mark read").await;
    let read_at = read.read_at.expect("read_at set");
    assert_eq!(
        Message {
            read_at: None,
            ..read.clone()
        },
        message,
        "nothing else changed"
    );
    let again = mark_read(&stores, &message.id, BOB, "mark read again").await;
    assert_eq!(
        again.read_at,
        Some(read_at),
        "a second call returns the first read_at"
    );
    assert_eq!(
        get_message(&stores, &message.id)
            .await
            .and_then(|m| m.read_at),
        Some(read_at)
    );
    assert!(
        unread(&stores, BOB, PageRequest::default())
            .await
            .items
            .is_empty()
    );
    let result = stores.messages.mark_read(&message.id, ALICE).await;
    assert!(
        matches!(result, Err(StoreError::NotTheReceiver)),
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

/// `request` is refused by the history of `chat` in `order`.
async fn history_refuses(
    stores: &Stores,
    chat: &str,
    order: Order,
    request: PageRequest,
    what: &str,
) {
    assert_invalid(stores.messages.history(chat, order, request).await, what);
}

/// `request` is refused by the unread messages of `receiver`.
async fn unread_refuses(stores: &Stores, receiver: &str, request: PageRequest, what: &str) {
    assert_invalid(stores.messages.unread_for(receiver, request).await, what);
}

pub async fn messages_bad_cursors_and_limits_are_bad_requests(stores: Stores) {
    for index in 0..5 {
        send(&stores, ALICE, BOB, &format!("ab{index}")).await;
        send(&stores, ALICE, CAROL, &format!("ac{index}")).await;
    }
    let chat_ab = chat_id(ALICE, BOB);
    let chat_ac = chat_id(ALICE, CAROL);
    let first = history(&stores, &chat_ab, Order::Asc, page(Some(2), None)).await;
    let cursor = first.next_cursor.expect("more pages");
    let at = |cursor: &str| page(None, Some(cursor.to_owned()));
    // The cursor works where it belongs.
    let second = history(
        &stores,
        &chat_ab,
        Order::Asc,
        page(Some(2), Some(cursor.clone())),
    )
    .await;
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
        let what = format!("history cursor {garbage:.20}");
        history_refuses(&stores, &chat_ab, Order::Asc, at(garbage), &what).await;
        let what = format!("unread cursor {garbage:.20}");
        unread_refuses(&stores, BOB, at(garbage), &what).await;
    }
    // A valid cursor used for another query.
    let what = "cursor of another chat";
    history_refuses(&stores, &chat_ac, Order::Asc, at(&cursor), what).await;
    let what = "cursor of the other order";
    history_refuses(&stores, &chat_ab, Order::Desc, at(&cursor), what).await;
    unread_refuses(&stores, BOB, at(&cursor), "history cursor for unread").await;
    let carol_cursor = unread(&stores, CAROL, page(Some(2), None))
        .await
        .next_cursor
        .expect("more unread");
    let what = "unread cursor of another receiver";
    unread_refuses(&stores, BOB, at(&carol_cursor), what).await;

    for limit in [0, 101, u32::MAX] {
        let what = format!("history limit {limit}");
        history_refuses(
            &stores,
            &chat_ab,
            Order::Asc,
            page(Some(limit), None),
            &what,
        )
        .await;
        let what = format!("unread limit {limit}");
        unread_refuses(&stores, BOB, page(Some(limit), None), &what).await;
    }
    for limit in [1, 100] {
        let page = history(&stores, &chat_ab, Order::Asc, page(Some(limit), None)).await;
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
        assert_invalid(stores.messages.insert(message).await, what);
    }
    let history = whole_history(&stores, &chat_id(ALICE, BOB), Order::Asc).await;
    assert!(history.items.is_empty(), "nothing was stored");
}

pub async fn messages_chat_participants_are_recorded_with_the_first_message(stores: Stores) {
    let ab = chat_id(ALICE, BOB);
    assert_eq!(
        participants(&stores, &ab).await,
        None,
        "no message yet: unknown chat"
    );
    for not_a_chat in ["", "c_1", "not a chat id", &"c".repeat(5000)] {
        assert_eq!(participants(&stores, not_a_chat).await, None);
    }

    send(&stores, ALICE, BOB, "first").await;
    let alice_and_bob = Some([ALICE.to_owned(), BOB.to_owned()]);
    assert_eq!(participants(&stores, &ab).await, alice_and_bob);
    assert_eq!(
        participants(&stores, &chat_id(BOB, ALICE)).await,
        alice_and_bob
    );
    // A reply and a retry change nothing.
    send(&stores, BOB, ALICE, "reply").await;
    stores
        .messages
        .insert(new_message(ALICE, BOB, "first"))
        .await
        .expect("retry");
    assert_eq!(participants(&stores, &ab).await, alice_and_bob);

    // First message in the other direction: the receiver sorts first; the participants are sorted bytewise.
    send(&stores, CAROL, BOB, "from carol").await;
    assert_eq!(
        participants(&stores, &chat_id(CAROL, BOB)).await,
        Some([BOB.to_owned(), CAROL.to_owned()])
    );
    let (upper, lower) = ("u_Z", "u_a");
    send(&stores, lower, upper, "bytewise").await;
    assert_eq!(
        participants(&stores, &chat_id(upper, lower)).await,
        Some([upper.to_owned(), lower.to_owned()]),
        "'Z' (0x5A) sorts before 'a' (0x61)"
    );
    // A chat with oneself has the same user twice.
    send(&stores, ALICE, ALICE, "note to self").await;
    assert_eq!(
        participants(&stores, &chat_id(ALICE, ALICE)).await,
        Some([ALICE.to_owned(), ALICE.to_owned()])
    );
    // Other chats stay unknown.
    assert_eq!(participants(&stores, &chat_id(ALICE, CAROL)).await, None);
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
    let created: Vec<Message> = results.into_iter().map(created).collect();
    let chat = chat_id(ALICE, BOB);
    assert_eq!(
        participants(&stores, &chat).await,
        Some([ALICE.to_owned(), BOB.to_owned()])
    );
    let history = whole_history(&stores, &chat, Order::Asc).await;
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
            serde_json::to_vec(&m.envelope).expect("serialize").len() + PAGE_MESSAGE_OVERHEAD_BYTES
        })
        .sum()
}

/// Walks every page of a query (with `limit`), checking the byte bound on each, and returns what it saw.
async fn walk<F, Fut>(limit: u32, mut next_page: F) -> (Vec<Message>, Vec<usize>)
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<Message>, StoreError>>,
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
            bytes <= MAX_PAGE_BYTES || page.items.len() == 1,
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
        sent.push(created(stores.messages.insert(message).await));
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
    let huge = envelope_of_size(ALICE, CAROL, "huge", MAX_PAGE_BYTES + 100_000);
    let huge = stores
        .messages
        .insert(huge)
        .await
        .expect("insert")
        .message()
        .clone();
    let small = send(&stores, CAROL, ALICE, "small").await;
    let chat = chat_id(ALICE, CAROL);

    let first = history(&stores, &chat, Order::Asc, page(None, None)).await;
    assert_eq!(ids(&first.items), [huge.id.as_str()], "never an empty page");
    let cursor = first.next_cursor.expect("the page was cut by size");
    let second = history(&stores, &chat, Order::Asc, page(None, Some(cursor))).await;
    assert_eq!(ids(&second.items), [small.id.as_str()]);
    assert_eq!(second.next_cursor, None);

    let newest_first = history(&stores, &chat, Order::Desc, page(None, None)).await;
    assert_eq!(
        ids(&newest_first.items),
        [small.id.as_str()],
        "the small one, then the huge one alone"
    );
    let cursor = newest_first.next_cursor.expect("cut by size");
    let rest = history(&stores, &chat, Order::Desc, page(None, Some(cursor))).await;
    assert_eq!(ids(&rest.items), [huge.id.as_str()]);
    assert_eq!(rest.next_cursor, None);

    let unread = unread(&stores, CAROL, page(None, None)).await;
    assert_eq!(ids(&unread.items), [huge.id.as_str()]);
    assert_eq!(unread.next_cursor, None, "nothing else is unread for Carol");
}
