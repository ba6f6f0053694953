//! MLS groups (docs/mls.md): creation, commit bundles validated against the group's public state, application
//! messages and the group log, all for member devices only (device tokens).

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_mls::{AcceptedCommit, DeviceIdentity, MAX_GROUP_MESSAGE_BYTES};
use e2ee_protocol::{
    CommitBundleRequest, CreateGroupRequest, GroupLogEntryView, GroupLogPage, GroupMemberView,
    GroupMessageRequest, GroupView,
};
use e2ee_storage::{
    DeviceStatus, GroupDevice, GroupEpoch, LogEntry, LogKind, MAX_GROUP_INFO_BYTES, NewCommit,
    NewGroup, NewGroupMessage, Posted,
};
use lambda_http::Request;
use lambda_http::http::StatusCode;

use super::devices::active_device;
use super::{HandlerResult, base64_field};
use crate::auth::DeviceCaller;
use crate::error::{ApiError, mls_error};
use crate::http::{json_body, path_param, query_param};
use crate::response::json_response;
use crate::state::AppState;

const GROUP_PATH: &str = "/api/groups/";
const DEFAULT_LOG_PAGE: u32 = 50;

fn as_member(caller: &DeviceCaller) -> GroupDevice {
    GroupDevice {
        user_id: caller.user_id.clone(),
        device_id: caller.device_id.clone(),
    }
}

fn identity(caller: &DeviceCaller) -> Result<DeviceIdentity, ApiError> {
    DeviceIdentity::new(&caller.user_id, &caller.device_id)
        .map_err(|error| mls_error(error, "invalid_request"))
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

fn group_view(group: &GroupEpoch) -> GroupView {
    GroupView {
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
    }
}

fn entry_view(entry: &LogEntry) -> GroupLogEntryView {
    GroupLogEntryView {
        seq: entry.seq,
        kind: entry.kind.as_str().to_owned(),
        epoch: entry.epoch,
        sender_user_id: entry.sender.user_id.clone(),
        sender_device_id: entry.sender.device_id.clone(),
        client_message_id: entry.client_message_id.clone(),
        message: STANDARD.encode(&entry.message),
        created_at: entry.created_at,
    }
}

/// The group at its current epoch, if the caller's device is one of its leaves (`403 not_a_member` otherwise;
/// `404 group_not_found` for an unknown group).
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
        .ok_or_else(|| ApiError::not_found("group_not_found", "no such group"))?;
    if !group.members.contains(&as_member(caller)) {
        return Err(ApiError::forbidden(
            "not_a_member",
            "the calling device is not a member of this group",
        ));
    }
    Ok(group)
}

/// `POST /api/groups` (device token): a group at epoch 0 whose only member is the calling device, under the
/// signature key the device registered.
pub async fn create_group(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, device) = active_device(&state, &request).await?;
    let body: CreateGroupRequest = json_body(&request)?;
    let group_info = base64_field("groupInfo", &body.group_info, MAX_GROUP_INFO_BYTES)?;
    let tree = base64_field("ratchetTree", &body.ratchet_tree, MAX_GROUP_INFO_BYTES)?;
    let created = e2ee_mls::create_group(&group_info, &tree, &identity(&caller)?)
        .map_err(|error| mls_error(error, "invalid_group_info"))?;
    if created
        .members
        .iter()
        .any(|m| m.signature_key != device.signature_key)
    {
        return Err(ApiError::unprocessable(
            "invalid_group",
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
    Ok(json_response(StatusCode::CREATED, &group_view(&group)))
}

/// `GET /api/groups/{groupId}` (device token of a member): the current epoch, members and GroupInfo.
pub async fn get_group(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, _) = active_device(&state, &request).await?;
    let group = group_of_member(&state, &request, &caller).await?;
    Ok(json_response(StatusCode::OK, &group_view(&group)))
}

/// `POST /api/groups/{groupId}/commits` (device token of a member): a commit bundle of the caller for the
/// current epoch, validated against the group's public state; every added device must be an active device of
/// the directory under the signature key its leaf carries. One commit wins each epoch.
pub async fn post_commit(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, _) = active_device(&state, &request).await?;
    let group = group_of_member(&state, &request, &caller).await?;
    let body: CommitBundleRequest = json_body(&request)?;
    let commit = base64_field("commit", &body.commit, MAX_GROUP_MESSAGE_BYTES)?;
    let welcome = body
        .welcome
        .as_deref()
        .map(|welcome| base64_field("welcome", welcome, MAX_GROUP_INFO_BYTES))
        .transpose()?;
    let group_info = base64_field("groupInfo", &body.group_info, MAX_GROUP_INFO_BYTES)?;
    let accepted = e2ee_mls::apply_commit(
        &group.public_state,
        &commit,
        welcome.as_deref(),
        &group_info,
    )
    .map_err(|error| mls_error(error, "invalid_commit"))?;
    if accepted.committer != identity(&caller)? {
        return Err(ApiError::forbidden(
            "not_the_committer",
            "the commit is signed by another member's leaf",
        ));
    }
    check_added_devices(&state, &accepted).await?;
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
            public_state: accepted.group.public_state,
        })
        .await?;
    Ok(json_response(StatusCode::CREATED, &entry_view(&entry)))
}

/// No ghost devices: every device a commit adds is an active device of the directory, and its leaf carries the
/// signature key that device registered (and that its certificate covers).
async fn check_added_devices(state: &AppState, accepted: &AcceptedCommit) -> Result<(), ApiError> {
    for added in &accepted.added {
        let leaf_key = accepted
            .group
            .members
            .iter()
            .find(|member| member.identity == added.identity)
            .map(|member| member.signature_key.as_slice());
        let registered = state
            .stores
            .devices
            .get(&added.identity.user_id, &added.identity.device_id)
            .await?
            .filter(|device| device.status == DeviceStatus::Active)
            .map(|device| device.signature_key);
        if leaf_key.is_none() || leaf_key != registered.as_deref() {
            return Err(ApiError::unprocessable(
                "unknown_device",
                format!(
                    "the commit adds {}, which is not an active device with that signature key",
                    added.identity
                ),
            ));
        }
    }
    Ok(())
}

/// `POST /api/groups/{groupId}/messages` (device token of a member): appends a `PrivateMessage` application
/// message of this group, sent in an epoch the caller is a member of; a retry returns the stored row (200).
pub async fn post_group_message(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, _) = active_device(&state, &request).await?;
    let group = group_of_member(&state, &request, &caller).await?;
    let body: GroupMessageRequest = json_body(&request)?;
    let message = base64_field("message", &body.message, MAX_GROUP_MESSAGE_BYTES)?;
    let group_id_bytes = hex::decode(&group.group_id).map_err(ApiError::internal)?;
    let epoch = e2ee_mls::application_message_epoch(&message, &group_id_bytes)
        .map_err(|error| mls_error(error, "invalid_application_message"))?;
    let sender = as_member(&caller);
    let member_then = state
        .stores
        .groups
        .members_at(&group.group_id, epoch)
        .await?
        .is_some_and(|members| members.contains(&sender));
    if !member_then && epoch <= group.epoch {
        return Err(ApiError::forbidden(
            "not_a_member",
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
    let group = group_of_member(&state, &request, &caller).await?;
    let after = query_param(&request, "after")
        .map(|text| {
            text.parse::<u64>().map_err(|_| {
                ApiError::bad_request("invalid_after", "after must be a log sequence number")
            })
        })
        .transpose()?;
    let limit = query_param(&request, "limit")
        .map(|text| {
            text.parse::<u32>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_limit",
                    "limit must be a whole number from 1 to 100",
                )
            })
        })
        .transpose()?
        .unwrap_or(DEFAULT_LOG_PAGE);
    if !(1..=e2ee_protocol::MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be a whole number from 1 to 100",
        ));
    }
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
