use e2ee_protocol::MAX_PAGE_SIZE as MAX_PAGE;
use zeroize::Zeroizing;

use super::paging::{Pages, page_size};
use super::*;

/// A saved session with the token "t", valid until `expires_at`.
fn session(expires_at: i64) -> SessionData {
    SessionData {
        token: Zeroizing::new("t".into()),
        expires_at,
    }
}

#[test]
fn opening_needs_a_server_url() {
    let root = tempfile::tempdir().unwrap();
    let profile = Profile::open(root.path(), "p").unwrap();
    let error = Device::open(profile, None).unwrap_err();
    assert!(matches!(error, ClientError::Usage(_)), "{error}");
    assert!(error.to_string().contains("E2EE_SERVER"));
    let profile = Profile::open(root.path(), "p").unwrap();
    assert!(Device::open(profile, Some("http://127.0.0.1:9")).is_ok());
}

#[tokio::test]
async fn commands_that_need_a_session_say_so() {
    let root = tempfile::tempdir().unwrap();
    let mut profile = Profile::open(root.path(), "p").unwrap();
    profile.data.user_id = Some("u_me".into());
    profile.data.username = Some("me".into());
    profile.save().unwrap();
    let mut device = Device::open(profile, Some("http://127.0.0.1:9")).unwrap();
    let error = device.verify_contact("bob", false).await.unwrap_err();
    assert!(matches!(error, ClientError::NotLoggedIn { .. }), "{error}");
    assert_eq!(error.exit_code(), crate::error::exit::AUTH);

    device.profile.save_session(&session(1)).unwrap();
    let profile = Profile::open(root.path(), "p").unwrap();
    let mut device = Device::open(profile, Some("http://127.0.0.1:9")).unwrap();
    let error = device
        .keys_init("pass", 2048, false, None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::SessionExpired { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("e2ee login me"));

    // keys show works offline and explains why the server's view is missing.
    let report = device.keys_show().await;
    assert!(report.keys.is_empty());
    assert!(report.server_note.unwrap().contains("expired"));
}

#[test]
fn paging_stops_on_a_repeated_cursor_or_too_many_pages() {
    let mut pages = Pages::new("x");
    assert_eq!(pages.next(Some("a".into())).unwrap().as_deref(), Some("a"));
    assert_eq!(pages.next(Some("b".into())).unwrap().as_deref(), Some("b"));
    let error = pages.next(Some("a".into())).unwrap_err();
    assert!(error.to_string().contains("same cursor"), "{error}");
    assert_eq!(Pages::new("x").next(None).unwrap(), None);

    let mut pages = Pages::new("x");
    for i in 1..MAX_PAGES {
        assert!(pages.next(Some(i.to_string())).unwrap().is_some());
    }
    let error = pages.next(Some("last".into())).unwrap_err();
    assert!(error.to_string().contains("pages"), "{error}");
    assert!(Pages::new("x").next(Some("c".repeat(5000))).is_err());
}

#[test]
fn the_token_is_not_sent_to_another_server() {
    let root = tempfile::tempdir().unwrap();
    let mut profile = Profile::open(root.path(), "p").unwrap();
    profile.data.server = Some("http://127.0.0.1:9000/".into());
    profile.data.user_id = Some("u_me".into());
    profile.save().unwrap();
    profile.save_session(&session(i64::MAX)).unwrap();
    let device = Device::open(
        Profile::open(root.path(), "p").unwrap(),
        Some("http://127.0.0.1:9000"),
    )
    .unwrap();
    assert!(device.client().has_token(), "same server, normalized");
    let device = Device::open(Profile::open(root.path(), "p").unwrap(), None).unwrap();
    assert!(device.client().has_token());
    let device = Device::open(
        Profile::open(root.path(), "p").unwrap(),
        Some("http://127.0.0.1:9001"),
    )
    .unwrap();
    assert!(!device.client().has_token(), "another server");
}

#[test]
fn page_sizes_stay_in_the_api_range() {
    assert_eq!(page_size(0), 1);
    assert_eq!(page_size(7), 7);
    assert_eq!(page_size(1000), MAX_PAGE);
}

/// The operations' futures can be spawned on a multi-threaded runtime (checked when this compiles).
#[allow(dead_code)]
fn operations_are_send(device: &mut Device, ring: &mut KeyRing) {
    fn send<T: Send>(_: T) {}
    send(device.inbox(ring, 1, false));
    send(device.read(ring, "m_1"));
    send(device.history(ring, "bob", 1, false));
    send(device.send(ring, "bob", b"x"));
    send(device.keys_show());
    send(device.verify_contact("bob", false));
}
