//! The storage conformance suite: one set of cases, run unchanged against every backend.
//!
//! * SQLite: always (a temporary file per test).
//! * MySQL/MariaDB: when `MYSQL_URL` is set (a fresh database per test on that server, dropped afterwards).
//! * MongoDB: when `MONGODB_URI` is set (a fresh database per test, dropped afterwards; users and throttle
//!   counters on temporary SQLite).
//!
//! With `CI=true`, a missing URL fails the MySQL/MongoDB tests instead of skipping them.
//! `scripts/services.sh` starts MariaDB and the MongoDB test server and exports both variables.

/// One `#[tokio::test]` per `name => Backend`, each calling `case(Backend::…)`.
macro_rules! per_backend {
    ($case:ident: $($name:ident => $backend:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $case(crate::support::Backend::$backend).await;
            }
        )+
    };
}

mod commits;
mod devices;
mod failures;
mod groups;
mod key_packages;
mod keys;
mod messages;
mod specific;
mod support;
mod throttle;
mod users;

/// Every conformance case, by module; each is `async fn(Stores)`.
mod cases {
    pub use crate::commits::*;
    pub use crate::devices::*;
    pub use crate::groups::*;
    pub use crate::key_packages::*;
    pub use crate::keys::*;
    pub use crate::messages::*;
    pub use crate::throttle::*;
    pub use crate::users::*;
}

/// Instantiates each case once per backend, as `<backend>::<case>` tests.
macro_rules! conformance_suite {
    ($($case:ident),+ $(,)?) => {
        conformance_suite!(@backend sqlite, Sqlite, $($case),+);
        conformance_suite!(@backend mysql, MySql, $($case),+);
        conformance_suite!(@backend mongodb, MongoDb, $($case),+);
    };
    (@backend $module:ident, $backend:ident, $($case:ident),+) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::support::run(crate::support::Backend::$backend, crate::cases::$case).await;
                }
            )+
        }
    };
}

conformance_suite!(
    users_create_and_get,
    users_duplicate_usernames_conflict_case_insensitively,
    users_unicode_usernames_are_normalized_and_folded,
    users_invalid_input_is_bad_request,
    users_concurrent_registration_of_one_name_has_one_winner,
    keys_put_active_and_read_back,
    keys_rotation_retires_previous_and_keeps_old_keys_readable,
    keys_registering_the_active_key_again_is_a_no_op,
    keys_reactivating_a_retired_or_revoked_key_conflicts,
    keys_revoke,
    keys_concurrent_rotation_leaves_exactly_one_active_key,
    keys_invalid_input_is_bad_request,
    keys_pending_keys_are_stored_but_never_active,
    keys_activating_a_pending_key_makes_it_the_newest,
    keys_concurrent_activation_of_one_pending_key,
    keys_retirement_and_revocation_times,
    keys_endorsements_are_stored_with_the_key,
    messages_insert_and_get,
    messages_insert_is_idempotent_per_sender_and_client_id,
    messages_concurrent_retries_create_exactly_one_message,
    messages_history_pagination_is_stable_under_inserts,
    messages_sequential_sends_keep_their_order_within_a_millisecond,
    messages_history_covers_both_directions_of_one_chat_only,
    messages_unread_pagination_oldest_first,
    messages_mark_read_authorization_and_idempotency,
    messages_bad_cursors_and_limits_are_bad_requests,
    messages_invalid_input_is_bad_request,
    messages_chat_participants_are_recorded_with_the_first_message,
    messages_concurrent_first_messages_share_one_chat,
    messages_pages_are_capped_by_bytes,
    messages_a_message_larger_than_a_page_travels_alone,
    throttle_concurrent_hits_count_each_hit_once,
    throttle_failures_count_exactly_and_clear,
    throttle_keys_are_bounded,
    devices_register_get_and_list,
    devices_registration_is_idempotent_and_ids_are_not_reused,
    devices_concurrent_registrations_of_one_id_have_one_winner,
    devices_approval,
    devices_concurrent_approvals_have_one_winner,
    devices_revocation_is_final_and_removes_the_device_from_the_list,
    devices_invalid_input_is_bad_request,
    devices_pages_and_counts,
    key_packages_upload_supply_and_claim,
    key_packages_concurrent_claims_never_hand_out_a_package_twice,
    key_packages_last_resort_is_handed_out_without_being_consumed,
    key_packages_expired_packages_are_never_handed_out,
    key_packages_belong_to_active_devices_only,
    key_packages_invalid_batches_are_bad_requests_and_write_nothing,
    commits_add_a_one_time_key_package_once,
    commits_add_only_key_packages_claimed_by_the_committer,
    commits_may_add_a_claimed_last_resort_package_again,
    commits_racing_for_one_key_package_have_one_winner,
    commits_that_lose_their_epoch_give_their_key_packages_back,
    commits_keep_a_constant_number_of_public_states,
    key_packages_claims_take_from_at_most_the_oldest_hundred_devices,
    groups_create_commit_post_and_read_the_log,
    groups_concurrent_commits_for_one_epoch_have_one_winner,
    groups_concurrent_posts_and_commits_share_one_gapless_log,
    groups_messages_carry_a_recent_epoch,
    groups_invalid_input_is_bad_request_and_writes_nothing,
    groups_welcomes_are_delivered_for_the_winning_commit_only,
    groups_welcome_pages_are_cut_by_count_and_bytes,
    groups_log_pages_are_cut_by_bytes,
    groups_are_listed_for_the_devices_of_their_newest_epoch,
    groups_listing_pages_by_group_id,
);
