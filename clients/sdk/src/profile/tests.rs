use super::*;
use e2ee_crypto::KeySize;

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn profile_names_are_plain_directory_names() {
    for good in ["default", "alice", "a.b-c_1", "X"] {
        validate_profile_name(good).unwrap();
    }
    for bad in ["", ".", "..", ".hidden", "a/b", "a b", "ä", &"x".repeat(65)] {
        assert!(validate_profile_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_new_profile_is_empty_until_saved() {
    let root = tempfile::tempdir().unwrap();
    let profile = Profile::open(root.path(), "alice").unwrap();
    assert!(!profile.exists());
    assert!(profile.data.user_id.is_none());
    assert!(matches!(
        profile.user_id(),
        Err(ClientError::NotLoggedIn { .. })
    ));
    assert!(profile.session().unwrap().is_none());
    assert!(!root.path().join("alice").exists());
}

#[test]
fn files_and_directories_are_owner_only_and_round_trip() {
    let root = tempfile::tempdir().unwrap();
    let mut profile = Profile::open(root.path(), "alice").unwrap();
    profile.data.server = Some("http://127.0.0.1:9000".into());
    profile.data.user_id = Some("u_alice".into());
    profile.data.username = Some("alice".into());
    profile.save().unwrap();
    profile
        .save_session(&SessionData {
            token: Zeroizing::new("tok".into()),
            expires_at: 42,
        })
        .unwrap();

    let key = PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let local = profile.write_key(&key, "pass phrase", 7).unwrap();
    profile.add_key(local.clone());
    profile.save().unwrap();

    let reopened = Profile::open(root.path(), "alice").unwrap();
    assert_eq!(reopened.data, profile.data);
    assert_eq!(reopened.current_key(), Some(&local));
    assert_eq!(reopened.session().unwrap().unwrap().expires_at, 42);
    assert_eq!(local.key_id, key.key_id().to_string());
    assert_eq!(local.fingerprint, key.key_id().fingerprint());

    let pem = fs::read_to_string(profile.private_key_path(&local.key_id)).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let loaded = reopened
        .load_private_key(&local.key_id, "pass phrase")
        .unwrap();
    assert_eq!(loaded.key_id(), key.key_id());
    assert!(matches!(
        reopened.load_private_key(&local.key_id, "wrong"),
        Err(ClientError::WrongPassphrase)
    ));
    assert_eq!(
        reopened.load_public_key(&local.key_id).unwrap(),
        *key.public_key()
    );
    // Key files are never overwritten.
    assert!(profile.write_key(&key, "pass phrase", 8).is_err());

    #[cfg(unix)]
    {
        let dir = root.path().join("alice");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(KEYS_DIR)), 0o700);
        assert_eq!(mode(&dir.join(PROFILE_FILE)), 0o600);
        assert_eq!(mode(&dir.join(SESSION_FILE)), 0o600);
        assert_eq!(mode(&profile.private_key_path(&local.key_id)), 0o600);
        assert_eq!(mode(&profile.public_key_path(&local.key_id)), 0o600);
    }
    // No temporary files are left behind.
    let names: Vec<String> = fs::read_dir(root.path().join("alice"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    profile.clear_session().unwrap();
    assert!(profile.session().unwrap().is_none());
    profile.clear_session().unwrap();
}

#[test]
fn seen_messages_persist_and_keep_the_first_delivery() {
    let root = tempfile::tempdir().unwrap();
    let profile = Profile::open(root.path(), "p").unwrap();
    let mut seen = profile.seen().unwrap();
    assert!(seen.record("u_bob", "c1", "m_1"));
    assert!(!seen.record("u_bob", "c1", "m_2"));
    profile.save_seen(&seen).unwrap();
    let back = Profile::open(root.path(), "p").unwrap().seen().unwrap();
    assert_eq!(back.first_seen("u_bob", "c1"), Some("m_1"));
    assert_eq!(back.first_seen("u_carol", "c1"), None);
    #[cfg(unix)]
    assert_eq!(mode(&root.path().join("p").join(SEEN_FILE)), 0o600);
}

#[test]
fn older_profiles_without_key_status_still_open() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("p");
    fs::create_dir_all(&dir).unwrap();
    let id = "ab".repeat(32);
    fs::write(
        dir.join(PROFILE_FILE),
        format!(
            r#"{{"version":1,"currentKeyId":"{id}","keys":[{{"keyId":"{id}","fingerprint":"x","bits":2048,"createdAt":0}}]}}"#
        ),
    )
    .unwrap();
    let profile = Profile::open(root.path(), "p").unwrap();
    assert!(profile.usable_key().is_some());
    assert_eq!(profile.current_key().unwrap().revoked_at, None);
}

#[test]
fn sessions_expire_and_never_debug_print_the_token() {
    let session = SessionData {
        token: Zeroizing::new("very-secret".into()),
        expires_at: 1_000,
    };
    assert!(session.is_valid_at(0, 500));
    assert!(!session.is_valid_at(600, 500));
    assert!(!format!("{session:?}").contains("very-secret"));
}

#[test]
fn damaged_files_are_reported_not_ignored() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("p");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(PROFILE_FILE), b"{not json").unwrap();
    let error = Profile::open(root.path(), "p").unwrap_err();
    assert!(error.to_string().contains("damaged"), "{error}");
    fs::write(
        dir.join(PROFILE_FILE),
        br#"{"version":1,"keys":[{"keyId":"../../etc/passwd","fingerprint":"x","bits":2048,"createdAt":0}]}"#,
    )
    .unwrap();
    assert!(Profile::open(root.path(), "p").is_err());
}
