//! GroupStore conformance: the group log, one commit per epoch, idempotent posts, paging.

use e2ee_storage::{
    GroupDevice, GroupStore, LogKind, MAX_PAST_EPOCHS, NewCommit, NewGroup, NewGroupMessage,
    Posted, StoreError, Stores,
};

use crate::support::{assert_invalid, concurrently};

const GROUP: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";

fn device(user: &str, device: &str) -> GroupDevice {
    GroupDevice {
        user_id: user.to_owned(),
        device_id: device.to_owned(),
    }
}

fn alice() -> GroupDevice {
    device("u_alice", "laptop")
}

fn bob() -> GroupDevice {
    device("u_bob", "phone")
}

fn new_group() -> NewGroup {
    NewGroup {
        group_id: GROUP.to_owned(),
        creator: alice(),
        group_info: b"group info 0".to_vec(),
        public_state: b"state 0".to_vec(),
        members: vec![alice()],
    }
}

/// A commit by `committer` starting `epoch`, its bytes tagged with `tag`.
fn commit(epoch: u64, committer: GroupDevice, tag: &str) -> NewCommit {
    NewCommit {
        group_id: GROUP.to_owned(),
        epoch,
        committer,
        commit: format!("commit {epoch} {tag}").into_bytes(),
        welcome: Some(format!("welcome {epoch} {tag}").into_bytes()),
        group_info: format!("group info {epoch} {tag}").into_bytes(),
        public_state: format!("state {epoch} {tag}").into_bytes(),
        members: vec![alice(), bob()],
        welcome_for: vec![bob()],
        key_packages: Vec::new(),
    }
}

fn message(sender: GroupDevice, epoch: u64, id: &str) -> NewGroupMessage {
    NewGroupMessage {
        group_id: GROUP.to_owned(),
        sender,
        client_message_id: id.to_owned(),
        epoch,
        message: format!("private message {id}").into_bytes(),
    }
}

/// 16 different commits of Alice for epoch 1, at once.
async fn race_for_epoch_one(
    stores: &Stores,
) -> Vec<e2ee_storage::StoreResult<e2ee_storage::LogEntry>> {
    concurrently(16, |index| {
        let stores = stores.clone();
        async move {
            let tag = index.to_string();
            stores.groups.commit(commit(1, alice(), &tag)).await
        }
    })
    .await
}

async fn groups(stores: &Stores) -> &dyn GroupStore {
    stores.groups.as_ref()
}

pub async fn groups_create_commit_post_and_read_the_log(stores: Stores) {
    let store = groups(&stores).await;
    assert_eq!(store.current(GROUP).await.expect("current"), None);
    let created = store.create(new_group()).await.expect("create");
    assert_eq!((created.epoch, created.seq), (0, 0));
    assert_eq!(created.members, vec![alice()]);
    // The same creation again is a retry; another one under the id is refused.
    assert_eq!(store.create(new_group()).await.expect("retry"), created);
    let mut other = new_group();
    other.group_info = b"another group".to_vec();
    assert!(matches!(
        store.create(other).await,
        Err(StoreError::GroupExists)
    ));

    let first = store
        .commit(commit(1, alice(), "a"))
        .await
        .expect("commit 1");
    assert_eq!(
        (first.seq, first.kind, first.epoch),
        (1, LogKind::Commit, 1)
    );
    let current = store
        .current(GROUP)
        .await
        .expect("current")
        .expect("a group");
    assert_eq!((current.epoch, current.seq), (1, 1));
    assert_eq!(current.public_state, b"state 1 a");
    assert_eq!(current.group_info, b"group info 1 a");
    assert_eq!(current.members, vec![alice(), bob()]);

    // Each epoch's members stay readable (who may read that epoch's rows).
    assert_eq!(
        store.members_at(GROUP, 0).await.expect("members"),
        Some(vec![alice()])
    );
    assert_eq!(
        store.members_at(GROUP, 1).await.expect("members"),
        Some(vec![alice(), bob()])
    );
    assert_eq!(store.members_at(GROUP, 2).await.expect("members"), None);

    let posted = store.post(message(bob(), 1, "m1")).await.expect("post");
    let Posted::Created(posted) = posted else {
        panic!("a new message")
    };
    assert_eq!((posted.seq, posted.kind), (2, LogKind::Application));
    assert_eq!(posted.client_message_id.as_deref(), Some("m1"));
    // A retry returns the stored message; other bytes under the id are refused.
    let retry = store.post(message(bob(), 1, "m1")).await.expect("retry");
    assert_eq!(retry, Posted::Existing(posted.clone()));
    let mut reused = message(bob(), 1, "m1");
    reused.message = b"something else".to_vec();
    assert!(matches!(
        store.post(reused).await,
        Err(StoreError::MessageIdReused)
    ));
    // Ids are per sender device.
    store
        .post(message(alice(), 1, "m1"))
        .await
        .expect("alice's m1");

    let log = store.log(GROUP, None, 50).await.expect("log");
    let seqs: Vec<_> = log.iter().map(|e| (e.seq, e.kind)).collect();
    assert_eq!(
        seqs,
        [
            (0, LogKind::Create),
            (1, LogKind::Commit),
            (2, LogKind::Application),
            (3, LogKind::Application)
        ]
    );
    assert_eq!(log[1].message, b"commit 1 a");
    assert_eq!(log[1].sender, alice());
    assert_eq!(log[2], posted);
    let after = store.log(GROUP, Some(1), 1).await.expect("page");
    assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), [2]);
    assert!(store.log(GROUP, Some(3), 50).await.expect("end").is_empty());
}

pub async fn groups_concurrent_commits_for_one_epoch_have_one_winner(stores: Stores) {
    stores.groups.create(new_group()).await.expect("create");
    let results = race_for_epoch_one(&stores).await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let losers = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(StoreError::EpochTaken {
                    current_epoch: 1,
                    seq: 1
                })
            )
        })
        .count();
    assert_eq!(losers, 15, "{results:?}");
    let current = stores
        .groups
        .current(GROUP)
        .await
        .expect("current")
        .expect("group");
    assert_eq!(current.epoch, 1);
    let winner_state = String::from_utf8(current.public_state).expect("utf8");
    let winner_commit = String::from_utf8(winners[0].message.clone()).expect("utf8");
    assert_eq!(
        winner_state.replace("state", "commit"),
        winner_commit,
        "the state is the winner's"
    );
    // A retry of the winner returns it; a commit for an epoch the group is past, or beyond the next, is refused.
    let tag = winner_commit.trim_start_matches("commit 1 ").to_owned();
    let retry = stores
        .groups
        .commit(commit(1, alice(), &tag))
        .await
        .expect("retry");
    assert_eq!(&retry, winners[0]);
    for epoch in [1, 3] {
        let refused = stores.groups.commit(commit(epoch, bob(), "late")).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::EpochTaken {
                    current_epoch: 1,
                    ..
                })
            ),
            "{refused:?}"
        );
    }
}

pub async fn groups_concurrent_posts_and_commits_share_one_gapless_log(stores: Stores) {
    stores.groups.create(new_group()).await.expect("create");
    let posts = concurrently(16, |index| {
        let stores = stores.clone();
        async move {
            if index % 4 == 0 {
                // Commits for epochs 1..=4 race the posts; some may lose their epoch to each other.
                let epoch = u64::try_from(index / 4 + 1).expect("small");
                stores
                    .groups
                    .commit(commit(epoch, alice(), "c"))
                    .await
                    .map(|e| e.seq)
            } else {
                let sent = stores
                    .groups
                    .post(message(bob(), 0, &format!("m{index}")))
                    .await;
                sent.map(|posted| posted.entry().seq)
            }
        }
    })
    .await;
    let log = stores.groups.log(GROUP, None, 100).await.expect("log");
    let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (0..u64::try_from(log.len()).expect("small")).collect::<Vec<_>>(),
        "no gaps"
    );
    // Every successful write is in the log exactly once, at the seq it was told.
    for seq in posts.iter().filter_map(|r| r.as_ref().ok()) {
        assert!(seqs.contains(seq));
    }
    let stored_posts = log
        .iter()
        .filter(|e| e.kind == LogKind::Application)
        .count();
    let ok_posts = posts
        .iter()
        .enumerate()
        .filter(|(index, result)| index % 4 != 0 && result.is_ok())
        .count();
    assert_eq!(stored_posts, ok_posts);
}

pub async fn groups_messages_carry_a_recent_epoch(stores: Stores) {
    stores.groups.create(new_group()).await.expect("create");
    for epoch in 1..=4 {
        stores
            .groups
            .commit(commit(epoch, alice(), "c"))
            .await
            .expect("commit");
    }
    let oldest_allowed = 4 - MAX_PAST_EPOCHS;
    for epoch in oldest_allowed..=4 {
        stores
            .groups
            .post(message(bob(), epoch, &format!("at {epoch}")))
            .await
            .expect("a recent epoch");
    }
    for epoch in [oldest_allowed - 1, 5] {
        let refused = stores
            .groups
            .post(message(bob(), epoch, &format!("at {epoch}")))
            .await;
        assert!(
            matches!(refused, Err(StoreError::StaleEpoch { current_epoch: 4 })),
            "{refused:?}"
        );
    }
    let unknown = NewGroupMessage {
        group_id: "ff".into(),
        ..message(bob(), 0, "x")
    };
    assert!(matches!(
        stores.groups.post(unknown).await,
        Err(StoreError::GroupNotFound)
    ));
    let mut no_group = commit(1, alice(), "x");
    no_group.group_id = "ff".into();
    assert!(matches!(
        stores.groups.commit(no_group).await,
        Err(StoreError::GroupNotFound)
    ));
}

pub async fn groups_invalid_input_is_bad_request_and_writes_nothing(stores: Stores) {
    for group_id in ["", "NOT-HEX", &"a".repeat(129)] {
        let mut group = new_group();
        group.group_id = group_id.to_owned();
        assert_invalid(
            stores.groups.create(group).await,
            &format!("group id {group_id:?}"),
        );
    }
    let mut no_members = new_group();
    no_members.members.clear();
    assert_invalid(stores.groups.create(no_members).await, "no members");
    let mut bad_member = new_group();
    bad_member.members.push(device("u_x", "bad id"));
    assert_invalid(stores.groups.create(bad_member).await, "bad member");
    let mut no_state = new_group();
    no_state.public_state.clear();
    assert_invalid(stores.groups.create(no_state).await, "no state");
    assert_eq!(stores.groups.current(GROUP).await.expect("current"), None);

    stores.groups.create(new_group()).await.expect("create");
    let mut huge = message(bob(), 0, "huge");
    huge.message = vec![0; e2ee_storage::MAX_GROUP_MESSAGE_BYTES + 1];
    assert_invalid(stores.groups.post(huge).await, "oversize message");
    let mut empty = commit(1, alice(), "x");
    empty.commit.clear();
    assert_invalid(stores.groups.commit(empty).await, "empty commit");
    assert_invalid(
        stores.groups.post(message(bob(), 0, "")).await,
        "empty client id",
    );
    assert_invalid(stores.groups.log(GROUP, None, 0).await, "limit 0");
    let log = stores.groups.log(GROUP, None, 50).await.expect("log");
    assert_eq!(log.len(), 1, "only the creation: {log:?}");
}

pub async fn groups_welcomes_are_delivered_for_the_winning_commit_only(stores: Stores) {
    stores.groups.create(new_group()).await.expect("create");
    assert!(
        stores
            .groups
            .welcomes(&bob(), None)
            .await
            .expect("inbox")
            .welcomes
            .is_empty()
    );
    let results = race_for_epoch_one(&stores).await;
    let winner = results
        .iter()
        .find_map(|r| r.as_ref().ok())
        .expect("a winner");
    let tag = String::from_utf8(winner.message.clone())
        .expect("utf8")
        .replace("commit 1 ", "");
    // Bob sees exactly the winner's Welcome (the 15 losers wrote entries too, before losing), on every read.
    for _ in 0..2 {
        let page = stores.groups.welcomes(&bob(), None).await.expect("inbox");
        assert_eq!(page.next_after, None, "one page");
        let inbox = page.welcomes;
        assert_eq!(inbox.len(), 1, "{inbox:?}");
        assert_eq!((inbox[0].group_id.as_str(), inbox[0].epoch), (GROUP, 1));
        assert_eq!(inbox[0].welcome, format!("welcome 1 {tag}").into_bytes());
    }
    // Other devices have none; acknowledging removes it; acknowledging again is fine.
    assert!(
        stores
            .groups
            .welcomes(&alice(), None)
            .await
            .expect("inbox")
            .welcomes
            .is_empty()
    );
    stores
        .groups
        .ack_welcome(&bob(), GROUP, 1)
        .await
        .expect("ack");
    stores
        .groups
        .ack_welcome(&bob(), GROUP, 1)
        .await
        .expect("ack again");
    assert!(
        stores
            .groups
            .welcomes(&bob(), None)
            .await
            .expect("inbox")
            .welcomes
            .is_empty()
    );

    // A commit without a Welcome writes no entry; a Welcome without recipients is refused.
    let mut update = commit(2, alice(), "u");
    update.welcome = None;
    update.welcome_for.clear();
    stores.groups.commit(update).await.expect("update");
    assert!(
        stores
            .groups
            .welcomes(&bob(), None)
            .await
            .expect("inbox")
            .welcomes
            .is_empty()
    );
    let mut orphan = commit(3, alice(), "o");
    orphan.welcome_for.clear();
    assert_invalid(stores.groups.commit(orphan).await, "a Welcome for nobody");
}

/// An inbox past both caps: 4 Welcomes of just over 1 MiB (so that at most two fit into a page's bytes), then 51
/// small ones (more than a page's count). Every Welcome is read exactly once, in order, following `next_after`.
pub async fn groups_welcome_pages_are_cut_by_count_and_bytes(stores: Stores) {
    stores.groups.create(new_group()).await.expect("create");
    let big = 1024 * 1024 + 1;
    for epoch in 1..=55 {
        let mut next = commit(epoch, alice(), "w");
        if epoch <= 4 {
            next.welcome = Some(vec![u8::try_from(epoch).expect("small"); big]);
        }
        stores.groups.commit(next).await.expect("commit");
    }
    let mut after = None;
    let mut pages = Vec::new();
    let mut epochs = Vec::new();
    for _ in 0..10 {
        let page = stores
            .groups
            .welcomes(&bob(), after.as_ref())
            .await
            .expect("inbox");
        let bytes: usize = page.welcomes.iter().map(|w| w.welcome.len()).sum();
        assert!(
            bytes <= e2ee_storage::MAX_WELCOME_PAGE_BYTES,
            "a page of {bytes} bytes"
        );
        assert!(!page.welcomes.is_empty(), "no empty page before the end");
        pages.push(page.welcomes.len());
        epochs.extend(page.welcomes.iter().map(|w| w.epoch));
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(epochs, (1..=55).collect::<Vec<u64>>(), "pages {pages:?}");
    assert_eq!(pages, [2, 50, 3], "cut by bytes, then by count");
    // A position past the end (a day from now) reads nothing.
    let end = e2ee_storage::WelcomePosition {
        created_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).expect("ms"))
            .expect("after 1970")
            + 86_400_000,
        group_id: GROUP.to_owned(),
        epoch: 0,
    };
    let page = stores
        .groups
        .welcomes(&bob(), Some(&end))
        .await
        .expect("end");
    assert_eq!((page.welcomes.len(), page.next_after), (0, None));
}

/// A log past its byte cap: 5 application messages of a million bytes each. Pages stay under
/// [`e2ee_storage::MAX_LOG_PAGE_BYTES`] of messages and the walk returns every row once.
pub async fn groups_log_pages_are_cut_by_bytes(stores: Stores) {
    stores.groups.create(new_group()).await.expect("create");
    for index in 0..5 {
        let mut big = message(alice(), 0, &format!("big-{index}"));
        big.message = vec![u8::try_from(index).expect("small"); 1_000_000];
        stores.groups.post(big).await.expect("post");
    }
    let (mut after, mut pages, mut seqs) = (None, Vec::new(), Vec::new());
    for _ in 0..10 {
        let page = stores.groups.log(GROUP, after, 100).await.expect("log");
        if page.is_empty() {
            break;
        }
        let bytes: usize = page.iter().map(|entry| entry.message.len()).sum();
        assert!(
            bytes <= e2ee_storage::MAX_LOG_PAGE_BYTES,
            "a page of {bytes} bytes"
        );
        pages.push(page.len());
        seqs.extend(page.iter().map(|entry| entry.seq));
        after = page.last().map(|entry| entry.seq);
    }
    assert_eq!(seqs, (0..=5).collect::<Vec<u64>>(), "pages {pages:?}");
    assert_eq!(
        pages,
        [4, 2],
        "the creation row and three messages, then two"
    );
}

async fn listed(stores: &Stores, device: &GroupDevice) -> Vec<(String, u64)> {
    let page = stores
        .groups
        .groups_of(device, None, 100)
        .await
        .expect("groups of");
    page.groups
        .into_iter()
        .map(|head| (head.group_id, head.epoch))
        .collect()
}

/// A commit for `epoch` that adds `added` to Alice and Bob.
fn adding(epoch: u64, added: GroupDevice, tag: &str) -> NewCommit {
    NewCommit {
        members: vec![alice(), bob(), added.clone()],
        welcome_for: vec![added],
        ..commit(epoch, alice(), tag)
    }
}

pub async fn groups_are_listed_for_the_devices_of_their_newest_epoch(stores: Stores) {
    assert_eq!(stores.groups.head(GROUP).await.expect("head"), None);
    stores.groups.create(new_group()).await.expect("create");
    let head = stores
        .groups
        .head(GROUP)
        .await
        .expect("head")
        .expect("a group");
    assert_eq!((head.epoch, head.seq, head.members), (0, 0, vec![alice()]));
    assert_eq!(listed(&stores, &alice()).await, [(GROUP.to_owned(), 0)]);
    assert!(listed(&stores, &bob()).await.is_empty());

    // 16 commits for epoch 1, each adding another device: only the winner's device lists the group (every
    // loser wrote its entry before losing).
    let contenders: Vec<GroupDevice> = (0..16)
        .map(|index| device("u_carol", &format!("d{index}")))
        .collect();
    let results = concurrently(16, |index| {
        let stores = stores.clone();
        let added = contenders[index].clone();
        async move {
            stores
                .groups
                .commit(adding(1, added, &index.to_string()))
                .await
        }
    })
    .await;
    let winners: Vec<usize> = (0..16).filter(|&i| results[i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (index, contender) in contenders.iter().enumerate() {
        let expected = if winners.contains(&index) {
            vec![(GROUP.to_owned(), 1)]
        } else {
            vec![]
        };
        // Twice: the first read deletes the losers' stale entries, the second sees the same.
        for _ in 0..2 {
            assert_eq!(listed(&stores, contender).await, expected, "device {index}");
        }
    }
    let winner = contenders[winners[0]].clone();

    // A commit for an epoch the group has not reached writes its entry ahead and loses: the entry waits
    // unlisted, and once the group passes that epoch without the device it is gone for good.
    let early = device("u_dave", "early");
    assert!(matches!(
        stores
            .groups
            .commit(adding(3, early.clone(), "early"))
            .await,
        Err(StoreError::EpochTaken {
            current_epoch: 1,
            seq: 1
        })
    ));
    assert!(listed(&stores, &early).await.is_empty());
    // Epoch 2 adds the device for real: listed.
    stores
        .groups
        .commit(adding(2, early.clone(), "real"))
        .await
        .expect("commit 2");
    assert_eq!(listed(&stores, &early).await, [(GROUP.to_owned(), 2)]);
    // Epoch 3 removes it (the epoch-1 winner left at epoch 2): neither lists the group now; Alice still does.
    let mut removal = commit(3, alice(), "remove");
    removal.welcome = None;
    removal.welcome_for.clear();
    stores.groups.commit(removal).await.expect("commit 3");
    assert!(listed(&stores, &early).await.is_empty());
    assert!(listed(&stores, &winner).await.is_empty());
    assert_eq!(listed(&stores, &alice()).await, [(GROUP.to_owned(), 3)]);
    // Added again at epoch 4: listed again.
    stores
        .groups
        .commit(adding(4, early.clone(), "again"))
        .await
        .expect("commit 4");
    assert_eq!(listed(&stores, &early).await, [(GROUP.to_owned(), 4)]);
    let head = stores
        .groups
        .head(GROUP)
        .await
        .expect("head")
        .expect("a group");
    assert_eq!((head.epoch, head.seq), (4, 4));
    assert_eq!(head.members, vec![alice(), bob(), early]);
}

pub async fn groups_listing_pages_by_group_id(stores: Stores) {
    let ids: Vec<String> = (0..5).map(|index| format!("{GROUP}{index:02x}")).collect();
    for id in ids.iter().rev() {
        let group = NewGroup {
            group_id: id.clone(),
            ..new_group()
        };
        stores.groups.create(group).await.expect("create");
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = stores
            .groups
            .groups_of(&alice(), after.as_deref(), 2)
            .await
            .expect("page");
        pages += 1;
        assert!(page.groups.len() <= 2);
        seen.extend(page.groups.into_iter().map(|head| head.group_id));
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ids, "ascending, each once");
    assert_eq!(pages, 3);
    for bad in ["", "NOT-HEX"] {
        assert_invalid(
            stores.groups.groups_of(&alice(), Some(bad), 2).await,
            &format!("after {bad:?}"),
        );
    }
    assert_invalid(stores.groups.groups_of(&alice(), None, 0).await, "limit 0");
}
