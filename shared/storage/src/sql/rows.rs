//! Rows as sqlx reads them, and their conversion to the contract's records.

use sqlx::types::Json;

use crate::devices::{DeviceCertificate, DeviceRecord};
use crate::engine::{
    ChatRecord, KeyPackageGrant, KeyPackageRecord, KeyPackageUse, LogRecord, stored_device_status,
    stored_key_status, stored_log_kind,
};
use crate::error::{StoreError, StoreResult};
use crate::groups::GroupDevice;
use crate::model::{Failures, KeyEndorsement, Message, Millis, PublicKeyRecord, User};

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    username: String,
    password_hash: String,
    display_name: Option<String>,
    created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            username: row.username,
            password_hash: row.password_hash,
            display_name: row.display_name,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    user_id: String,
    key_id: String,
    public_key_pem: String,
    bits: i64,
    created_at: i64,
    status: String,
    retired_at: Option<i64>,
    revoked_at: Option<i64>,
    endorsement_key_id: Option<String>,
    endorsement_created_at: Option<i64>,
    endorsement_signature: Option<Vec<u8>>,
}

impl TryFrom<KeyRow> for PublicKeyRecord {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> StoreResult<Self> {
        let endorsement = match (
            row.endorsement_key_id,
            row.endorsement_created_at,
            row.endorsement_signature,
        ) {
            (Some(key_id), Some(created_at), Some(signature)) => Some(KeyEndorsement {
                key_id,
                created_at,
                signature,
            }),
            (None, None, None) => None,
            _ => {
                return Err(StoreError::Internal(
                    "stored key has a partial endorsement".to_owned(),
                ));
            }
        };
        Ok(PublicKeyRecord {
            bits: u32::try_from(row.bits).map_err(|_| {
                StoreError::Internal(format!("stored key has invalid bits {}", row.bits))
            })?,
            status: stored_key_status(&row.status)?,
            user_id: row.user_id,
            key_id: row.key_id,
            public_key_pem: row.public_key_pem,
            created_at: row.created_at,
            retired_at: row.retired_at,
            revoked_at: row.revoked_at,
            endorsement,
        })
    }
}

/// The key id of a key row that exists (the answer of an existence check).
#[derive(sqlx::FromRow)]
pub(crate) struct KeyIdRow {
    #[allow(dead_code)] // read only to learn that a row exists
    key_id: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChatRow {
    chat_id: String,
    user_low: String,
    user_high: String,
    created_at: i64,
}

impl From<ChatRow> for ChatRecord {
    fn from(row: ChatRow) -> Self {
        ChatRecord {
            chat_id: row.chat_id,
            user_low: row.user_low,
            user_high: row.user_high,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    id: String,
    chat_id: String,
    sender_id: String,
    receiver_id: String,
    client_message_id: String,
    envelope: Json<serde_json::Value>,
    created_at: i64,
    read_at: Option<i64>,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        Message {
            id: row.id,
            chat_id: row.chat_id,
            sender_id: row.sender_id,
            receiver_id: row.receiver_id,
            client_message_id: row.client_message_id,
            envelope: row.envelope.0,
            created_at: row.created_at,
            read_at: row.read_at,
        }
    }
}

/// `MAX(created_at)` of a chat's messages (`NULL` for an empty chat).
#[derive(sqlx::FromRow)]
pub(crate) struct NewestRow {
    pub(crate) newest: Option<i64>,
}

/// A failure counter of the throttle tables.
#[derive(sqlx::FromRow)]
pub(crate) struct FailuresRow {
    failures: i64,
    last_failure_at: Millis,
}

impl From<FailuresRow> for Failures {
    fn from(row: FailuresRow) -> Self {
        Failures {
            count: crate::engine::failure_count(row.failures),
            last_failure_at: row.last_failure_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeviceRow {
    user_id: String,
    device_id: String,
    display_name: String,
    signature_key: Vec<u8>,
    status: String,
    cert_issuer_key_id: Option<String>,
    cert_issued_at: Option<i64>,
    cert_signature: Option<Vec<u8>>,
    cert_link_proof: Option<Vec<u8>>,
    created_at: i64,
    approved_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<DeviceRow> for DeviceRecord {
    type Error = StoreError;

    fn try_from(row: DeviceRow) -> StoreResult<Self> {
        let certificate = match (
            row.cert_issuer_key_id,
            row.cert_issued_at,
            row.cert_signature,
        ) {
            (Some(issuer_key_id), Some(issued_at), Some(signature)) => Some(DeviceCertificate {
                issuer_key_id,
                issued_at,
                signature,
                link_proof: row.cert_link_proof,
            }),
            (None, None, None) => None,
            _ => {
                return Err(StoreError::Internal(
                    "stored device has a partial certificate".to_owned(),
                ));
            }
        };
        Ok(DeviceRecord {
            status: stored_device_status(&row.status)?,
            user_id: row.user_id,
            device_id: row.device_id,
            display_name: row.display_name,
            signature_key: row.signature_key,
            certificate,
            created_at: row.created_at,
            approved_at: row.approved_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyPackageRow {
    key_package_ref: Vec<u8>,
    user_id: String,
    device_id: String,
    message: Vec<u8>,
    not_after: i64,
    last_resort: bool,
    uploaded_at: i64,
}

impl From<KeyPackageRow> for KeyPackageRecord {
    fn from(row: KeyPackageRow) -> Self {
        KeyPackageRecord {
            user_id: row.user_id,
            device_id: row.device_id,
            key_package_ref: row.key_package_ref,
            message: row.message,
            not_after: row.not_after,
            last_resort: row.last_resort,
            uploaded_at: row.uploaded_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyPackageGrantRow {
    key_package_ref: Vec<u8>,
    claimer_user: String,
    owner_user: String,
    owner_device: String,
    last_resort: bool,
    not_after: i64,
    granted_at: i64,
}

impl From<KeyPackageGrantRow> for KeyPackageGrant {
    fn from(row: KeyPackageGrantRow) -> Self {
        KeyPackageGrant {
            key_package_ref: row.key_package_ref,
            claimer_user: row.claimer_user,
            owner_user: row.owner_user,
            owner_device: row.owner_device,
            last_resort: row.last_resort,
            not_after: row.not_after,
            granted_at: row.granted_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyPackageUseRow {
    key_package_ref: Vec<u8>,
    group_id: String,
    epoch: i64,
    commit_hash: Vec<u8>,
    used_at: i64,
}

impl From<KeyPackageUseRow> for KeyPackageUse {
    fn from(row: KeyPackageUseRow) -> Self {
        KeyPackageUse {
            key_package_ref: row.key_package_ref,
            group_id: row.group_id,
            epoch: row.epoch,
            commit_hash: row.commit_hash,
            used_at: row.used_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyPackageRefRow {
    pub(crate) key_package_ref: Vec<u8>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct CountRow {
    pub(crate) count: i64,
}

/// A log row without the state columns (what pages read).
#[derive(sqlx::FromRow)]
pub(crate) struct LogRow {
    group_id: String,
    seq: i64,
    kind: String,
    epoch: i64,
    commit_epoch: i64,
    sender_user: String,
    sender_device: String,
    client_message_id: String,
    message: Vec<u8>,
    created_at: i64,
}

impl TryFrom<LogRow> for LogRecord {
    type Error = StoreError;

    fn try_from(row: LogRow) -> StoreResult<Self> {
        Ok(LogRecord {
            kind: stored_log_kind(&row.kind)?,
            group_id: row.group_id,
            seq: row.seq,
            epoch: row.epoch,
            commit_epoch: row.commit_epoch,
            sender: GroupDevice {
                user_id: row.sender_user,
                device_id: row.sender_device,
            },
            client_message_id: row.client_message_id,
            message: row.message,
            welcome: None,
            group_info: None,
            public_state: None,
            members: None,
            created_at: row.created_at,
        })
    }
}

/// A creation or commit row with the epoch's state.
#[derive(sqlx::FromRow)]
pub(crate) struct EpochRow {
    #[sqlx(flatten)]
    log: LogRow,
    welcome: Option<Vec<u8>>,
    group_info: Option<Vec<u8>>,
    public_state: Option<Vec<u8>>,
    members: Option<String>,
}

impl TryFrom<EpochRow> for LogRecord {
    type Error = StoreError;

    fn try_from(row: EpochRow) -> StoreResult<Self> {
        let members = row
            .members
            .map(|text| serde_json::from_str::<Vec<GroupDevice>>(&text))
            .transpose()
            .map_err(|_| StoreError::Internal("stored group members are malformed".to_owned()))?;
        Ok(LogRecord {
            welcome: row.welcome,
            group_info: row.group_info,
            public_state: row.public_state,
            members,
            ..row.log.try_into()?
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MembersRow {
    members: Option<String>,
}

impl MembersRow {
    pub(crate) fn members(self) -> StoreResult<Vec<GroupDevice>> {
        let text = self
            .members
            .ok_or_else(|| StoreError::Internal("an epoch row lacks its members".to_owned()))?;
        serde_json::from_str(&text)
            .map_err(|_| StoreError::Internal("stored group members are malformed".to_owned()))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WelcomeEntryRow {
    user_id: String,
    device_id: String,
    group_id: String,
    epoch: i64,
    commit_hash: Vec<u8>,
    created_at: i64,
}

impl From<WelcomeEntryRow> for crate::engine::WelcomeEntry {
    fn from(row: WelcomeEntryRow) -> Self {
        crate::engine::WelcomeEntry {
            device: GroupDevice {
                user_id: row.user_id,
                device_id: row.device_id,
            },
            group_id: row.group_id,
            epoch: row.epoch,
            commit_hash: row.commit_hash,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CommitWelcomeRow {
    pub(crate) message: Vec<u8>,
    pub(crate) welcome: Option<Vec<u8>>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct PositionRow {
    pub(crate) commit_epoch: i64,
    pub(crate) seq: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct HeadRow {
    pub(crate) commit_epoch: i64,
    pub(crate) seq: i64,
    #[sqlx(flatten)]
    pub(crate) members: MembersRow,
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeviceGroupRow {
    pub(crate) group_id: String,
    pub(crate) epoch: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct SeqRow {
    pub(crate) seq: i64,
}
