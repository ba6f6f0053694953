//! What `e2ee` shows of messages a scripted (lying) server delivers: the signed time and recipients, never
//! the server's, and a replay flagged. The scripted server and fixtures are the SDK's
//! (clients/sdk/tests/scripted).

#[path = "../../sdk/tests/scripted/mod.rs"]
mod scripted;

use std::sync::{Arc, Mutex};

use e2ee_client::messages::Verification;
use scripted::*;

#[tokio::test]
async fn time_and_recipients_are_the_signed_ones_and_a_replay_is_flagged() {
    let keys = keys();
    let signed_at = 1_700_000_123_000;
    let envelope = from_bob(
        &keys.alice,
        &keys.bob_new,
        Some(&keys.bob_new),
        "client-1",
        signed_at,
        "pay 10",
    );
    let unsigned = from_bob(
        &keys.alice,
        &keys.bob_new,
        None,
        "client-2",
        signed_at,
        "unsigned",
    );
    let delivery = Arc::new(Mutex::new(1));
    let which = delivery.clone();
    let server = serve_full(bob_server(
        &keys.bob_new,
        vec![key_view(&keys.bob_new, "active", None, None)],
        move |_| {
            let id = *which.lock().unwrap();
            // The server's time and receiver are lies; the second run delivers the same envelope again.
            Reply::json(
                200,
                page(
                    vec![
                        stored(&format!("m_{id}"), &envelope, 5, "u_carol"),
                        stored("m_unsigned", &unsigned, 5, "u_carol"),
                    ],
                    None,
                ),
            )
        },
    ))
    .await;
    let mut fixture = alice(&server, &keys.alice);
    // Bob is a pinned contact.
    fixture.device.verify_contact("bob", false).await.unwrap();
    let mut ring = unlock(&fixture.device);
    let inbox = fixture.device.inbox(&mut ring, 10, false).await.unwrap();
    assert_eq!(inbox[0].status, Verification::Verified);
    assert_eq!(inbox[0].created_at, Some(signed_at as i64));
    assert_eq!(inbox[0].stored_at, 5);
    let to: Vec<&str> = inbox[0]
        .recipients
        .iter()
        .map(|r| r.user_id.as_str())
        .collect();
    assert_eq!(to, ["u_alice"]);
    let shown = e2ee_cli::output::inbox(&inbox, false);
    assert!(shown.contains("2023-11-14 22:15:23 UTC"), "{shown}");
    assert!(
        !shown.contains("u_carol") && !shown.contains("1970"),
        "{shown}"
    );
    // Unsigned, from a contact whose key is pinned: unverified, never verified.
    assert_eq!(inbox[1].status, Verification::Unverified);
    assert_eq!(inbox[1].reason.as_deref(), Some("not signed"));
    // Showing the same message again under its own id is not a replay.
    let again = fixture.device.inbox(&mut ring, 10, false).await.unwrap();
    assert_eq!(again[0].status, Verification::Verified);
    assert!(again[0].replay_of.is_none());

    // A later run: the same signed envelope, delivered under a new server id.
    *delivery.lock().unwrap() = 2;
    let mut later = fixture.reopen(&server);
    let mut ring = unlock(&later);
    let replayed = later.inbox(&mut ring, 10, false).await.unwrap();
    assert_eq!(replayed[0].message_id, "m_2");
    assert_eq!(replayed[0].replay_of.as_deref(), Some("m_1"));
    assert_eq!(replayed[0].status, Verification::Unverified);
    assert!(replayed[0].reason.as_deref().unwrap().contains("REPLAY"));
    let shown = e2ee_cli::output::inbox(&replayed, false);
    assert!(shown.contains("REPLAY") && shown.contains("m_1"), "{shown}");
    let json = serde_json::to_value(&replayed[0]).unwrap();
    assert_eq!(json["replayOf"], "m_1");
    assert!(
        !format!("{:?}", replayed[0]).contains("pay 10"),
        "Debug redacts the text"
    );
}
