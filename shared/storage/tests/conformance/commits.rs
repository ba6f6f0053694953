//! GroupStore conformance, what a commit consumes and keeps: key packages are single-use across the Delivery
//! Service (a commit adds a package only under a claim of its committer, a one-time package once), and a group
//! keeps the public state of its newest epoch only.

use e2ee_storage::{GroupDevice, NewCommit, NewGroup, NewKeyPackage, StoreError, Stores};

use crate::devices::{USER, new_device, register};
use crate::support::concurrently;

const FAR_FUTURE: i64 = 4_102_444_800_000;
const NOW: i64 = 1_764_145_653_000;
/// The committing user (Alice), who claims the packages of `USER`'s device.
const ALICE: &str = "u_a11ce000000000000000000000000000";
const MALLORY: &str = "u_0a11047000000000000000000000000f";

fn device(user: &str, device: &str) -> GroupDevice {
    GroupDevice {
        user_id: user.to_owned(),
        device_id: device.to_owned(),
    }
}

fn alice() -> GroupDevice {
    device(ALICE, "laptop")
}

fn target() -> GroupDevice {
    device(USER, "phone")
}

fn group_id(index: usize) -> String {
    format!("{index:04x}aa")
}

async fn create_group(stores: &Stores, group: &str, members: Vec<GroupDevice>) {
    stores
        .groups
        .create(NewGroup {
            group_id: group.to_owned(),
            creator: alice(),
            group_info: b"group info 0".to_vec(),
            public_state: b"state 0".to_vec(),
            members,
        })
        .await
        .expect("create");
}

/// Alice's commit in `group` for `epoch` adding the target's device with the packages `key_packages`.
fn adding(group: &str, epoch: u64, key_packages: &[&[u8]], tag: &str) -> NewCommit {
    NewCommit {
        group_id: group.to_owned(),
        epoch,
        committer: alice(),
        commit: format!("commit {group} {epoch} {tag}").into_bytes(),
        welcome: Some(format!("welcome {group} {epoch} {tag}").into_bytes()),
        group_info: format!("group info {epoch} {tag}").into_bytes(),
        public_state: format!("state {epoch} {tag}").into_bytes(),
        members: vec![alice(), target()],
        welcome_for: vec![target()],
        key_packages: key_packages.iter().map(|r| r.to_vec()).collect(),
    }
}

/// Alice's update commit (no additions) in `group` for `epoch`.
fn updating(group: &str, epoch: u64, members: Vec<GroupDevice>, state_bytes: usize) -> NewCommit {
    NewCommit {
        group_id: group.to_owned(),
        epoch,
        committer: alice(),
        commit: format!("update {group} {epoch}").into_bytes(),
        welcome: None,
        group_info: format!("group info {epoch}").into_bytes(),
        public_state: vec![u8::try_from(epoch % 251).unwrap_or(0); state_bytes],
        members,
        welcome_for: Vec::new(),
        key_packages: Vec::new(),
    }
}

/// The target's device with one one-time package (`one`) and a last-resort package (`last`), uploaded.
async fn target_with_packages(stores: &Stores) {
    register(stores, new_device(USER, "phone", 7, true)).await;
    let package = |reference: &str, last_resort: bool| NewKeyPackage {
        key_package_ref: reference.as_bytes().to_vec(),
        message: format!("MLSMessage {reference}").into_bytes(),
        not_after: FAR_FUTURE,
        last_resort,
    };
    stores
        .key_packages
        .upload(
            USER,
            "phone",
            vec![package("one", false), package("last", true)],
            NOW,
        )
        .await
        .expect("upload");
}

async fn claim(stores: &Stores, claimer: &str) -> Vec<u8> {
    let claimed = stores
        .key_packages
        .claim(claimer, USER, NOW)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1, "one package for the one device");
    claimed[0].key_package_ref.clone()
}

async fn epoch_of(stores: &Stores, group: &str) -> u64 {
    stores
        .groups
        .head(group)
        .await
        .expect("head")
        .expect("a group")
        .epoch
}

async fn welcomes_of_target(stores: &Stores) -> Vec<(String, u64)> {
    stores
        .groups
        .welcomes(&target(), None)
        .await
        .expect("welcomes")
        .welcomes
        .into_iter()
        .map(|welcome| (welcome.group_id, welcome.epoch))
        .collect()
}

pub async fn commits_add_a_one_time_key_package_once(stores: Stores) {
    target_with_packages(&stores).await;
    let (first, second) = (group_id(1), group_id(2));
    create_group(&stores, &first, vec![alice()]).await;
    create_group(&stores, &second, vec![alice()]).await;
    let one = claim(&stores, ALICE).await;
    assert_eq!(one, b"one");

    stores
        .groups
        .commit(adding(&first, 1, &[&one], "a"))
        .await
        .expect("the first use of a claimed package");
    let reused = stores.groups.commit(adding(&second, 1, &[&one], "b")).await;
    assert!(
        matches!(reused, Err(StoreError::KeyPackageReused)),
        "{reused:?}"
    );
    // Nothing of the refused commit counts: the second group is where it was, the target has one Welcome.
    assert_eq!(epoch_of(&stores, &second).await, 0);
    assert_eq!(welcomes_of_target(&stores).await, vec![(first.clone(), 1)]);
    let listed = stores
        .groups
        .groups_of(&target(), None, 10)
        .await
        .expect("groups of");
    assert_eq!(listed.groups.len(), 1);
}

pub async fn commits_add_only_key_packages_claimed_by_the_committer(stores: Stores) {
    target_with_packages(&stores).await;
    let group = group_id(3);
    create_group(&stores, &group, vec![alice()]).await;
    // Never handed out at all.
    let unclaimed = stores
        .groups
        .commit(adding(&group, 1, &[b"one"], "a"))
        .await;
    assert!(
        matches!(unclaimed, Err(StoreError::KeyPackageNotClaimed)),
        "{unclaimed:?}"
    );
    // Handed out, but to another user: Alice cannot add what Mallory claimed.
    let mallorys = claim(&stores, MALLORY).await;
    let foreign = stores
        .groups
        .commit(adding(&group, 1, &[&mallorys], "b"))
        .await;
    assert!(
        matches!(foreign, Err(StoreError::KeyPackageNotClaimed)),
        "{foreign:?}"
    );
    assert_eq!(epoch_of(&stores, &group).await, 0);
    assert_eq!(welcomes_of_target(&stores).await, Vec::new());
}

pub async fn commits_may_add_a_claimed_last_resort_package_again(stores: Stores) {
    target_with_packages(&stores).await;
    let (first, second) = (group_id(4), group_id(5));
    create_group(&stores, &first, vec![alice()]).await;
    create_group(&stores, &second, vec![alice()]).await;
    assert_eq!(claim(&stores, MALLORY).await, b"one"); // the one-time package goes to someone else
    let last = claim(&stores, ALICE).await;
    assert_eq!(last, b"last");
    for group in [&first, &second] {
        stores
            .groups
            .commit(adding(group, 1, &[&last], "a"))
            .await
            .expect("a last-resort package may join several groups (RFC 9420 §16.8)");
    }
}

pub async fn commits_racing_for_one_key_package_have_one_winner(stores: Stores) {
    target_with_packages(&stores).await;
    for index in 0..16 {
        create_group(&stores, &group_id(100 + index), vec![alice()]).await;
    }
    let one = claim(&stores, ALICE).await;
    let results = concurrently(16, |index| {
        let stores = stores.clone();
        let one = one.clone();
        async move {
            stores
                .groups
                .commit(adding(&group_id(100 + index), 1, &[&one], "race"))
                .await
        }
    })
    .await;
    let winners = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(winners, 1, "{results:?}");
    for result in &results {
        assert!(
            matches!(result, Ok(_) | Err(StoreError::KeyPackageReused)),
            "{result:?}"
        );
    }
    assert_eq!(welcomes_of_target(&stores).await.len(), 1);
}

pub async fn commits_that_lose_their_epoch_give_their_key_packages_back(stores: Stores) {
    target_with_packages(&stores).await;
    let group = group_id(6);
    create_group(&stores, &group, vec![alice()]).await;
    let one = claim(&stores, ALICE).await;
    // Another commit wins epoch 1; the add that lost re-applies its intent at epoch 2 with the same package.
    stores
        .groups
        .commit(updating(&group, 1, vec![alice()], 16))
        .await
        .expect("the update wins epoch 1");
    let lost = stores.groups.commit(adding(&group, 1, &[&one], "a")).await;
    assert!(
        matches!(lost, Err(StoreError::EpochTaken { .. })),
        "{lost:?}"
    );
    stores
        .groups
        .commit(adding(&group, 2, &[&one], "b"))
        .await
        .expect("the package is still unused");
    // And now it is used for good.
    let other = group_id(7);
    create_group(&stores, &other, vec![alice()]).await;
    let reused = stores.groups.commit(adding(&other, 1, &[&one], "c")).await;
    assert!(
        matches!(reused, Err(StoreError::KeyPackageReused)),
        "{reused:?}"
    );
}

/// 200 commits in a 50-member group: the group keeps the newest epoch's state only (the bound is 3).
pub async fn commits_keep_a_constant_number_of_public_states(stores: Stores) {
    let group = group_id(8);
    let members: Vec<GroupDevice> = std::iter::once(alice())
        .chain((1..50).map(|index| device(&format!("u_{index:032x}"), "phone")))
        .collect();
    create_group(&stores, &group, members.clone()).await;
    for epoch in 1..=200 {
        stores
            .groups
            .commit(updating(&group, epoch, members.clone(), 4096))
            .await
            .expect("commit");
    }
    let states = stores.groups.stored_states(&group).await.expect("states");
    assert!(
        (1..=3).contains(&states),
        "{states} full states kept after 200 commits"
    );
    let current = stores
        .groups
        .current(&group)
        .await
        .expect("current")
        .expect("a group");
    assert_eq!(current.epoch, 200);
    assert_eq!(current.public_state, vec![200; 4096]);
    // Older epochs still know their members (who may read their rows).
    let members_then = stores.groups.members_at(&group, 17).await.expect("members");
    assert_eq!(members_then, Some(members));
    // A retried creation still answers the group (as it is now).
    let again = stores
        .groups
        .create(NewGroup {
            group_id: group.clone(),
            creator: alice(),
            group_info: b"group info 0".to_vec(),
            public_state: b"state 0".to_vec(),
            members: vec![alice()],
        })
        .await
        .expect("a retried creation");
    assert_eq!(again.epoch, 200);
}
