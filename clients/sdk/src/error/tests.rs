use super::*;

fn api(status: u16, code: &str) -> ClientError {
    ClientError::Api {
        status,
        code: code.into(),
        message: "m".into(),
    }
}

#[test]
fn exit_codes_are_distinct_per_kind() {
    assert_eq!(api(401, "invalid_credentials").exit_code(), exit::AUTH);
    assert_eq!(api(404, "user_not_found").exit_code(), exit::NOT_FOUND);
    assert_eq!(api(409, "stale_recipient_key").exit_code(), exit::OTHER);
    assert_eq!(api(422, "bad_signature").exit_code(), exit::OTHER);
    assert_eq!(
        ClientError::Unreachable {
            url: "http://x".into(),
            reason: "refused".into()
        }
        .exit_code(),
        exit::UNREACHABLE
    );
    assert_eq!(
        ClientError::from(CryptoError::WrongPassphrase).exit_code(),
        exit::PASSPHRASE
    );
    assert_eq!(
        ClientError::NotLoggedIn {
            profile: "p".into()
        }
        .exit_code(),
        exit::AUTH
    );
    assert_eq!(
        ClientError::UnknownUser("bob".into()).exit_code(),
        exit::NOT_FOUND
    );
    assert_eq!(ClientError::Usage("x".into()).exit_code(), exit::USAGE);
    let changed = ClientError::KeyChanged(Box::new(KeyChange {
        username: "bob".into(),
        user_id: "u_b".into(),
        old_key_id: "a".repeat(64),
        old_fingerprint: "AAAA".into(),
        new_key_id: "b".repeat(64),
        new_fingerprint: "BBBB".into(),
    }));
    assert_eq!(changed.exit_code(), exit::KEY_CHANGED);
    let text = changed.to_string();
    assert!(text.contains("AAAA") && text.contains("BBBB") && text.contains("--accept"));
    assert!(!text.contains('\n'));
}

#[test]
fn rate_limits_have_their_own_exit_code_and_say_when_to_retry() {
    let limited = ClientError::RateLimited {
        code: "too_many_attempts".into(),
        message: "too many failed logins".into(),
        retry_after: Some(30),
    };
    assert_eq!(limited.exit_code(), exit::RATE_LIMITED);
    assert_eq!(limited.code(), "too_many_attempts");
    assert_eq!(limited.api_code(), Some(&ErrorCode::TooManyAttempts));
    let text = limited.to_string();
    assert!(text.contains("try again in 30 seconds"), "{text}");
    assert!(text.contains("HTTP 429") && !text.contains('\n'), "{text}");
    assert!(!limited.is_transient());
    let later = ClientError::RateLimited {
        code: "quota_exceeded".into(),
        message: "m".into(),
        retry_after: None,
    };
    assert!(later.to_string().contains("try again later"));
    // Distinct from every other exit code.
    let codes = [
        exit::OTHER,
        exit::USAGE,
        exit::UNREACHABLE,
        exit::AUTH,
        exit::KEY_CHANGED,
        exit::PASSPHRASE,
        exit::NOT_FOUND,
    ];
    assert!(!codes.contains(&exit::RATE_LIMITED));
}

#[test]
fn identity_changes_are_key_changes_and_name_both_ids() {
    let remapped = ClientError::IdentityChanged(Box::new(IdentityChange::Remapped {
        username: "bob".into(),
        pinned_user_id: "u_1".into(),
        new_user_id: "u_2".into(),
    }));
    assert_eq!(remapped.exit_code(), exit::KEY_CHANGED);
    assert_eq!(remapped.code(), "identity_changed");
    let text = remapped.to_string();
    assert!(text.contains("u_1") && text.contains("u_2") && text.contains("bob"));
    assert!(text.contains("--accept") && !text.contains('\n'), "{text}");
    let renamed = ClientError::IdentityChanged(Box::new(IdentityChange::Renamed {
        user_id: "u_1".into(),
        pinned_username: "bob".into(),
        new_username: "robert".into(),
    }));
    let text = renamed.to_string();
    assert!(text.contains("u_1") && text.contains("bob") && text.contains("robert"));
    assert_eq!(renamed.exit_code(), exit::KEY_CHANGED);
    assert_eq!(api(403, "authorization_failed").exit_code(), exit::AUTH);
}

#[test]
fn transient_errors_are_the_retryable_ones() {
    assert!(api(503, "store_unavailable").is_transient());
    assert!(!api(409, "stale_recipient_key").is_transient());
    assert!(ClientError::Transport("reset".into()).is_transient());
    assert!(!ClientError::WrongPassphrase.is_transient());
}

#[test]
fn codes_for_json_output() {
    assert_eq!(api(409, "message_id_reused").code(), "message_id_reused");
    assert_eq!(ClientError::WrongPassphrase.code(), "wrong_passphrase");
    assert_eq!(
        api(409, "x").api_code(),
        Some(&ErrorCode::Other("x".into()))
    );
    assert_eq!(ClientError::WrongPassphrase.api_code(), None);
}
