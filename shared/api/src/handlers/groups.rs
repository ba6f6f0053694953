//! MLS groups (docs/mls.md): creation, commit bundles validated against the group's public state, application
//! messages and the group log, all for member devices only (device tokens).

use e2ee_protocol::ErrorCode;
use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_mls::{AcceptedCommit, DeviceIdentity};
use e2ee_protocol::{
    AckWelcomeRequest, AckWelcomeResponse, CommitBundleRequest, CreateGroupRequest, GroupListPage,
    GroupLogEntryView, GroupLogPage, GroupMemberView, GroupMessageRequest, GroupSummaryView,
    GroupView, WelcomeList, WelcomeView,
};
use e2ee_storage::{
    DeviceStatus, GroupDevice, GroupEpoch, GroupHead, LogEntry, LogKind, MAX_GROUP_INFO_BYTES,
    MAX_GROUP_MESSAGE_BYTES, NewCommit, NewGroup, NewGroupMessage, Posted, WelcomePosition,
    is_group_id,
};
use lambda_http::Request;
use lambda_http::http::StatusCode;

use super::devices::active_device;
use super::{HandlerResult, base64_message};
use crate::auth::DeviceCaller;
use crate::error::{ApiError, mls_error};
use crate::http::{json_body, path_param, query_param};
use crate::limits;
use crate::response::json_response;
use crate::state::AppState;
use crate::throttle::{self, Quota, device_subject};

const GROUP_PATH: &str = "/api/groups/";
const DEFAULT_PAGE: u32 = 50;

fn as_member(caller: &DeviceCaller) -> GroupDevice {
    GroupDevice {
        user_id: caller.user_id.clone(),
        device_id: caller.device_id.clone(),
    }
}

fn identity(caller: &DeviceCaller) -> Result<DeviceIdentity, ApiError> {
    DeviceIdentity::new(&caller.user_id, &caller.device_id).map_err(mls_error)
}

fn members(snapshot: &[e2ee_mls::GroupMember]) -> Vec<GroupDevice> {
    snapshot
        .iter()
        .map(|member| GroupDevice {
            user_id: member.identity.user_id.clone(),
            device_id: member.identity.device_id.clone(),
        })
        .collect()
}

fn group_view(group: &GroupEpoch) -> Result<GroupView, ApiError> {
    let tree = e2ee_mls::ratchet_tree(&group.public_state).map_err(ApiError::internal)?;
    Ok(GroupView {
        group_id: group.group_id.clone(),
        epoch: group.epoch,
        seq: group.seq,
        members: group
            .members
            .iter()
            .map(|m| GroupMemberView {
                user_id: m.user_id.clone(),
                device_id: m.device_id.clone(),
            })
            .collect(),
        group_info: STANDARD.encode(&group.group_info),
        ratchet_tree: STANDARD.encode(tree),
    })
}

fn entry_view(entry: &LogEntry) -> GroupLogEntryView {
    GroupLogEntryView {
        seq: entry.seq,
        kind: entry.kind,
        epoch: entry.epoch,
        sender_user_id: entry.sender.user_id.clone(),
        sender_device_id: entry.sender.device_id.clone(),
        client_message_id: entry.client_message_id.clone(),
        message: STANDARD.encode(&entry.message),
        created_at: entry.created_at,
    }
}

/// What an unknown group answers, and what a group answers a caller who may not see it: the same status, code
/// and message, so that no route tells a non-member whether a group exists.
fn group_not_found() -> ApiError {
    ApiError::not_found(ErrorCode::GroupNotFound, "no such group")
}

fn check_member(members: &[GroupDevice], caller: &DeviceCaller) -> Result<(), ApiError> {
    if members.contains(&as_member(caller)) {
        Ok(())
    } else {
        Err(group_not_found())
    }
}

/// The group at its current epoch with its state, if the caller's device is one of its leaves (`404
/// group_not_found` otherwise, as for an unknown group).
async fn group_of_member(
    state: &AppState,
    request: &Request,
    caller: &DeviceCaller,
) -> Result<GroupEpoch, ApiError> {
    let group_id = path_param(request, "groupId", GROUP_PATH)?;
    let group = state
        .stores
        .groups
        .current(&group_id)
        .await?
        .ok_or_else(group_not_found)?;
    check_member(&group.members, caller)?;
    Ok(group)
}

/// As [`group_of_member`], reading only the epoch, position and members (what posts and log reads need; the
/// public state can be MiBs).
async fn head_of_member(
    state: &AppState,
    request: &Request,
    caller: &DeviceCaller,
) -> Result<GroupHead, ApiError> {
    let group_id = path_param(request, "groupId", GROUP_PATH)?;
    let head = state
        .stores
        .groups
        .head(&group_id)
        .await?
        .ok_or_else(group_not_found)?;
    check_member(&head.members, caller)?;
    Ok(head)
}

/// `limit` of a page (1–100, default 50): `400 invalid_limit` otherwise.
fn page_limit(request: &Request) -> Result<u32, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            ErrorCode::InvalidLimit,
            format!(
                "limit must be a whole number from 1 to {}",
                e2ee_protocol::MAX_PAGE_SIZE
            ),
        )
    };
    let limit = query_param(request, "limit")
        .map(|text| text.parse::<u32>().map_err(|_| invalid()))
        .transpose()?
        .unwrap_or(DEFAULT_PAGE);
    if (1..=e2ee_protocol::MAX_PAGE_SIZE).contains(&limit) {
        Ok(limit)
    } else {
        Err(invalid())
    }
}

/// `POST /api/groups` (device token): a group at epoch 0 whose only member is the calling device, under the
/// signature key the device registered. Counted against the user's daily group quota.
pub async fn create_group(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, device) = active_device(&state, &request).await?;
    throttle::spend(&state, Quota::GroupsPerDay, &caller.user_id).await?;
    let body: CreateGroupRequest = json_body(&request)?;
    let group_info = base64_message("groupInfo", &body.group_info, MAX_GROUP_INFO_BYTES)?;
    let tree = base64_message("ratchetTree", &body.ratchet_tree, MAX_GROUP_INFO_BYTES)?;
    let created =
        e2ee_mls::create_group(&group_info, &tree, &identity(&caller)?).map_err(mls_error)?;
    if created
        .members
        .iter()
        .any(|m| m.signature_key != device.signature_key)
    {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidGroup,
            "the creator's leaf is not signed with the device's registered signature key",
        ));
    }
    let group = state
        .stores
        .groups
        .create(NewGroup {
            group_id: hex::encode(&created.group_id),
            creator: as_member(&caller),
            group_info,
            public_state: created.public_state,
            members: members(&created.members),
        })
        .await?;
    Ok(json_response(StatusCode::CREATED, &group_view(&group)?))
}

/// `GET /api/groups/{groupId}` (device token of a member): the current epoch, members and GroupInfo.
pub async fn get_group(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, _) = active_device(&state, &request).await?;
    let group = group_of_member(&state, &request, &caller).await?;
    Ok(json_response(StatusCode::OK, &group_view(&group)?))
}

/// `POST /api/groups/{groupId}/commits` (device token of a member): a commit bundle of the caller for the
/// current epoch (or the caller's external commit rejoining after state loss), validated against the group's
/// public state; every leaf it brings in must be an active device of the directory under the signature key
/// that leaf carries. One commit wins each epoch. Counted against the device's hourly commit quota; the Welcome
/// must fit what the group's size needs ([`limits::check_welcome_size`]).
pub async fn post_commit(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, _) = active_device(&state, &request).await?;
    throttle::spend(&state, Quota::CommitsPerHour, &device_subject(&caller)).await?;
    let group = group_of_member(&state, &request, &caller).await?;
    let body: CommitBundleRequest = json_body(&request)?;
    let commit = base64_message("commit", &body.commit, MAX_GROUP_MESSAGE_BYTES)?;
    let welcome = body
        .welcome
        .as_deref()
        .map(|welcome| base64_message("welcome", welcome, MAX_GROUP_INFO_BYTES))
        .transpose()?;
    let group_info = base64_message("groupInfo", &body.group_info, MAX_GROUP_INFO_BYTES)?;
    let accepted = e2ee_mls::apply_commit(
        &group.public_state,
        &commit,
        welcome.as_deref(),
        &group_info,
    )
    .map_err(|error| match error {
        // A commit for another epoch: the client catches up from where the group is, as after losing a race.
        e2ee_mls::MlsError::WrongEpoch { .. } => {
            mls_error(error).at_group_position(group.epoch, Some(group.seq))
        }
        error => mls_error(error),
    })?;
    if accepted.committer != identity(&caller)? {
        return Err(ApiError::forbidden(
            ErrorCode::NotTheCommitter,
            "the commit is signed by another member's leaf",
        ));
    }
    check_new_leaves(&state, &accepted).await?;
    limits::check_welcome_size(
        welcome.as_ref().map(Vec::len),
        accepted.added.len(),
        accepted.group.members.len(),
    )?;
    let entry = state
        .stores
        .groups
        .commit(NewCommit {
            group_id: group.group_id,
            epoch: accepted.group.epoch,
            committer: as_member(&caller),
            commit,
            welcome,
            group_info,
            members: members(&accepted.group.members),
            welcome_for: accepted
                .added
                .iter()
                .map(|added| GroupDevice {
                    user_id: added.identity.user_id.clone(),
                    device_id: added.identity.device_id.clone(),
                })
                .collect(),
            key_packages: accepted
                .added
                .iter()
                .map(|added| added.key_package_ref.clone())
                .collect(),
            public_state: accepted.group.public_state,
        })
        .await?;
    Ok(json_response(StatusCode::CREATED, &entry_view(&entry)))
}

/// No ghost devices: every leaf the commit brings in (an added device, a rejoined device, a new signature key)
/// is an active device of the directory under the signature key that device registered (and that its
/// certificate covers).
async fn check_new_leaves(state: &AppState, accepted: &AcceptedCommit) -> Result<(), ApiError> {
    for leaf in &accepted.new_leaves {
        let registered = state
            .stores
            .devices
            .get(&leaf.identity.user_id, &leaf.identity.device_id)
            .await?
            .filter(|device| device.status == DeviceStatus::Active)
            .map(|device| device.signature_key);
        if registered.as_deref() != Some(leaf.signature_key.as_slice()) {
            return Err(ApiError::unprocessable(
                ErrorCode::UnknownDevice,
                format!(
                    "the commit brings in {}, which is not an active device with that signature key",
                    leaf.identity
                ),
            ));
        }
    }
    Ok(())
}

/// `POST /api/groups/{groupId}/messages` (device token of a member): appends a `PrivateMessage` application
/// message of this group, sent in an epoch the caller is a member of; a retry returns the stored row (200).
/// Counted against the device's hourly group message quota.
pub async fn post_group_message(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, _) = active_device(&state, &request).await?;
    throttle::spend(
        &state,
        Quota::GroupMessagesPerHour,
        &device_subject(&caller),
    )
    .await?;
    let group = head_of_member(&state, &request, &caller).await?;
    let body: GroupMessageRequest = json_body(&request)?;
    let message = base64_message("message", &body.message, MAX_GROUP_MESSAGE_BYTES)?;
    let group_id_bytes = hex::decode(&group.group_id).map_err(ApiError::internal)?;
    let epoch =
        e2ee_mls::application_message_epoch(&message, &group_id_bytes).map_err(mls_error)?;
    let sender = as_member(&caller);
    let member_then = state
        .stores
        .groups
        .members_at(&group.group_id, epoch)
        .await?
        .is_some_and(|members| members.contains(&sender));
    if !member_then && epoch <= group.epoch {
        return Err(ApiError::forbidden(
            ErrorCode::NotAMember,
            "the calling device was not a member in the message's epoch",
        ));
    }
    let posted = state
        .stores
        .groups
        .post(NewGroupMessage {
            group_id: group.group_id,
            sender,
            client_message_id: body.client_message_id,
            epoch,
            message,
        })
        .await?;
    let status = match posted {
        Posted::Created(_) => StatusCode::CREATED,
        Posted::Existing(_) => StatusCode::OK,
    };
    Ok(json_response(status, &entry_view(posted.entry())))
}

/// `GET /api/groups/{groupId}/log?after=&limit=` (device token of a member): the log rows the device may
/// read — an application row of epoch `e` if it is a member of `e`, the commit that starts `e` if it was a
/// member of `e − 1` — ascending after `after`. `nextAfter` continues the walk (absent once a page is empty).
pub async fn read_group_log(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, _) = active_device(&state, &request).await?;
    let group_id = path_param(&request, "groupId", GROUP_PATH)?;
    let after = query_param(&request, "after")
        .map(|text| {
            text.parse::<u64>().map_err(|_| {
                ApiError::bad_request(
                    ErrorCode::InvalidAfter,
                    "after must be a log sequence number",
                )
            })
        })
        .transpose()?;
    let limit = page_limit(&request)?;
    let group = log_reader(&state, &group_id, &caller, after).await?;
    let rows = state
        .stores
        .groups
        .log(&group.group_id, after, limit)
        .await?;
    let me = as_member(&caller);
    let mut member_of: HashMap<u64, bool> = HashMap::new();
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        let epoch = match row.kind {
            LogKind::Commit => row.epoch.saturating_sub(1),
            LogKind::Create | LogKind::Application => row.epoch,
        };
        let visible = match member_of.get(&epoch) {
            Some(visible) => *visible,
            None => {
                let members = state
                    .stores
                    .groups
                    .members_at(&group.group_id, epoch)
                    .await?;
                let visible = members.is_some_and(|members| members.contains(&me));
                member_of.insert(epoch, visible);
                visible
            }
        };
        if visible {
            entries.push(entry_view(row));
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &GroupLogPage {
            group_id: group.group_id,
            entries,
            next_after: rows.last().map(|row| row.seq),
        },
    ))
}

/// Who reads a group's log: a leaf of the current epoch, or a device that was a leaf of the epoch the group was
/// in at the position `after` it reads from (a removed device reads on to the commit that removed it; the
/// visibility rule shows it nothing later). Anyone else gets what an unknown group gets.
async fn log_reader(
    state: &AppState,
    group_id: &str,
    caller: &DeviceCaller,
    after: Option<u64>,
) -> Result<GroupHead, ApiError> {
    let groups = &state.stores.groups;
    let head = groups.head(group_id).await?.ok_or_else(group_not_found)?;
    let me = as_member(caller);
    if head.members.contains(&me) {
        return Ok(head);
    }
    let epoch = match after {
        Some(after) => groups.epoch_at(group_id, after).await?.unwrap_or(0),
        None => 0,
    };
    let member_then = groups
        .members_at(group_id, epoch)
        .await?
        .is_some_and(|members| members.contains(&me));
    if member_then {
        Ok(head)
    } else {
        Err(group_not_found())
    }
}

/// `GET /api/groups?after=&limit=` (device token): the groups the calling device is a member of at their
/// current epoch, ascending by group id; `nextAfter` continues the listing (absent at its end).
pub async fn list_groups(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, _) = active_device(&state, &request).await?;
    let after = query_param(&request, "after");
    if after.as_deref().is_some_and(|after| !is_group_id(after)) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidAfter,
            "after must be a group id (lowercase hex)",
        ));
    }
    let limit = page_limit(&request)?;
    let page = state
        .stores
        .groups
        .groups_of(&as_member(&caller), after.as_deref(), limit)
        .await?;
    let groups = page
        .groups
        .into_iter()
        .map(|head| GroupSummaryView {
            member_count: u64::try_from(head.members.len()).unwrap_or(u64::MAX),
            group_id: head.group_id,
            epoch: head.epoch,
            seq: head.seq,
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &GroupListPage {
            groups,
            next_after: page.next_after,
        },
    ))
}

/// `GET /api/welcomes?after=` (device token): a page of the calling device's Welcomes of accepted commits,
/// oldest first, until it acknowledges them (reading never removes one); at most 50 and 3 MiB of Welcomes a
/// page, `nextAfter` continues (absent at the end).
pub async fn list_welcomes(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, _) = active_device(&state, &request).await?;
    let after = query_param(&request, "after")
        .map(|text| {
            parse_welcome_position(&text).ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidAfter,
                    "after must be the nextAfter of a previous page",
                )
            })
        })
        .transpose()?;
    let page = state
        .stores
        .groups
        .welcomes(&as_member(&caller), after.as_ref())
        .await?;
    let welcomes = page
        .welcomes
        .into_iter()
        .map(|pending| WelcomeView {
            group_id: pending.group_id,
            epoch: pending.epoch,
            welcome: STANDARD.encode(&pending.welcome),
            created_at: pending.created_at,
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &WelcomeList {
            welcomes,
            next_after: page.next_after.as_ref().map(welcome_position_text),
        },
    ))
}

/// A Welcome inbox position as `nextAfter` spells it: `<createdAt>.<epoch>.<groupId>`.
fn welcome_position_text(position: &WelcomePosition) -> String {
    format!(
        "{}.{}.{}",
        position.created_at, position.epoch, position.group_id
    )
}

fn parse_welcome_position(text: &str) -> Option<WelcomePosition> {
    let mut parts = text.splitn(3, '.');
    let created_at = parts.next()?.parse::<i64>().ok()?;
    let epoch = parts.next()?.parse::<u64>().ok()?;
    let group_id = parts.next()?;
    // A time in ms up to the year 9999, as stores keep dates.
    let plausible = (0..=253_402_300_799_999).contains(&created_at);
    (plausible && is_group_id(group_id)).then(|| WelcomePosition {
        created_at,
        group_id: group_id.to_owned(),
        epoch,
    })
}

/// `POST /api/welcomes/ack` (device token): removes a Welcome from the calling device's inbox, once the device
/// has joined from it (acknowledging an absent one is fine, so retries are).
pub async fn ack_welcome(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, _) = active_device(&state, &request).await?;
    let body: AckWelcomeRequest = json_body(&request)?;
    state
        .stores
        .groups
        .ack_welcome(&as_member(&caller), &body.group_id, body.epoch)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &AckWelcomeResponse {
            group_id: body.group_id,
            epoch: body.epoch,
            acknowledged: true,
        },
    ))
}
