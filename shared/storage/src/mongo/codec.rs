//! Records ↔ BSON documents. Documents:
//!
//! * `public_keys`: `{_id: ObjectId, user_id, key_id, public_key_pem, bits, created_at: Date, status,
//!   retired_at: Date | null, revoked_at: Date | null, endorsement: {key_id, created_at: Date, signature:
//!   Binary} | null}` (documents written before these three fields existed lack them, which reads as null)
//! * `messages`: `{_id: "m_…", chat_id, sender_id, receiver_id, client_message_id, envelope: {…},
//!   created_at: Date, read_at: Date | null}` — the envelope is stored as a document, not as a string.
//! * `chats`: `{_id: ObjectId, chat_id, user_low, user_high, created_at: Date}`, unique on `chat_id`.
//! * `devices`: `{_id: ObjectId, user_id, device_id, display_name, signature_key: Binary, status,
//!   certificate: {issuer_key_id, issued_at: Date, signature: Binary, link_proof: Binary | null} | null,
//!   created_at: Date,
//!   approved_at: Date | null, revoked_at: Date | null}`, unique on `(user_id, device_id)`.
//! * `key_packages`: `{_id: Binary (the key package reference), user_id, device_id, message: Binary,
//!   not_after: Date, last_resort: bool, uploaded_at: Date}`.
//! * `group_log`: `{_id: ObjectId, group_id, seq: Int64, kind, epoch: Int64, commit_epoch: Int64, sender_user,
//!   sender_device, client_message_id, message: Binary, created_at: Date}` and, on creation and commit rows,
//!   `welcome: Binary | null, group_info: Binary, public_state: Binary, members: [{user_id, device_id}]`.
//! * `welcome_inbox`: `{_id: ObjectId, user_id, device_id, group_id, epoch: Int64, commit_hash: Binary,
//!   created_at: Date}`, unique on all but `created_at`.
//! * `key_package_grants`: `{_id: ObjectId, key_package_ref: Binary, claimer_user, owner_user, owner_device,
//!   last_resort: bool, not_after: Date, granted_at: Date}`, unique on `(key_package_ref, claimer_user)`.
//! * `key_package_uses`: `{_id: Binary (the key package reference), group_id, epoch: Int64, commit_hash:
//!   Binary, used_at: Date}`.
//!
//! A creation or commit row of an epoch before the newest has no `group_info` and `public_state` (unset).

use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{self, Binary, Bson, DateTime, Document, doc};

use crate::devices::{DeviceCertificate, DeviceRecord};
use crate::engine::{
    ChatRecord, KeyPackageGrant, KeyPackageRecord, KeyPackageUse, LogRecord, WelcomeEntry,
    stored_device_status, stored_key_status, stored_log_kind,
};
use crate::error::{StoreError, StoreResult};
use crate::groups::GroupDevice;
use crate::model::{KeyEndorsement, Message, Millis, PublicKeyRecord};

fn malformed(field: &str) -> StoreError {
    StoreError::Internal(format!(
        "stored document has a missing or malformed {field}"
    ))
}

pub(super) fn string_field(document: &Document, field: &str) -> StoreResult<String> {
    document
        .get_str(field)
        .map(str::to_owned)
        .map_err(|_| malformed(field))
}

fn millis_field(document: &Document, field: &str) -> StoreResult<Option<Millis>> {
    match document.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::DateTime(time)) => Ok(Some(time.timestamp_millis())),
        Some(_) => Err(malformed(field)),
    }
}

/// Bytes as BSON binary data (generic subtype), not as an array of numbers.
pub(super) fn binary(bytes: &[u8]) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    }
}

fn binary_field(document: &Document, field: &str) -> StoreResult<Vec<u8>> {
    document
        .get_binary_generic(field)
        .cloned()
        .map_err(|_| malformed(field))
}

pub(super) fn required_millis(document: &Document, field: &str) -> StoreResult<Millis> {
    millis_field(document, field)?.ok_or_else(|| malformed(field))
}

pub(super) fn key_to_document(key: &PublicKeyRecord) -> Document {
    doc! {
        "user_id": &key.user_id,
        "key_id": &key.key_id,
        "public_key_pem": &key.public_key_pem,
        "bits": i64::from(key.bits),
        "created_at": DateTime::from_millis(key.created_at),
        "status": key.status.as_str(),
        "retired_at": key.retired_at.map(DateTime::from_millis),
        "revoked_at": key.revoked_at.map(DateTime::from_millis),
        "endorsement": key.endorsement.as_ref().map(endorsement_to_document),
    }
}

/// The endorsement subdocument, as inserted and as `$set` writes it on activation.
pub(super) fn endorsement_to_document(endorsement: &KeyEndorsement) -> Document {
    doc! {
        "key_id": &endorsement.key_id,
        "created_at": DateTime::from_millis(endorsement.created_at),
        "signature": binary(&endorsement.signature),
    }
}

fn endorsement_from_document(document: &Document) -> StoreResult<Option<KeyEndorsement>> {
    match document.get("endorsement") {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(endorsement)) => Ok(Some(KeyEndorsement {
            key_id: string_field(endorsement, "key_id")?,
            created_at: required_millis(endorsement, "created_at")?,
            signature: binary_field(endorsement, "signature")?,
        })),
        Some(_) => Err(malformed("endorsement")),
    }
}

pub(super) fn key_from_document(document: &Document) -> StoreResult<PublicKeyRecord> {
    let bits = match document.get("bits") {
        Some(Bson::Int32(bits)) => u32::try_from(*bits).ok(),
        Some(Bson::Int64(bits)) => u32::try_from(*bits).ok(),
        _ => None,
    }
    .ok_or_else(|| malformed("bits"))?;
    Ok(PublicKeyRecord {
        user_id: string_field(document, "user_id")?,
        key_id: string_field(document, "key_id")?,
        public_key_pem: string_field(document, "public_key_pem")?,
        bits,
        created_at: required_millis(document, "created_at")?,
        status: stored_key_status(&string_field(document, "status")?)?,
        retired_at: millis_field(document, "retired_at")?,
        revoked_at: millis_field(document, "revoked_at")?,
        endorsement: endorsement_from_document(document)?,
    })
}

pub(super) fn chat_to_document(chat: &ChatRecord) -> Document {
    doc! {
        "chat_id": &chat.chat_id,
        "user_low": &chat.user_low,
        "user_high": &chat.user_high,
        "created_at": DateTime::from_millis(chat.created_at),
    }
}

pub(super) fn chat_from_document(document: &Document) -> StoreResult<ChatRecord> {
    Ok(ChatRecord {
        chat_id: string_field(document, "chat_id")?,
        user_low: string_field(document, "user_low")?,
        user_high: string_field(document, "user_high")?,
        created_at: required_millis(document, "created_at")?,
    })
}

pub(super) fn device_to_document(device: &DeviceRecord) -> Document {
    let certificate = device.certificate.as_ref().map(certificate_to_document);
    doc! {
        "user_id": &device.user_id,
        "device_id": &device.device_id,
        "display_name": &device.display_name,
        "signature_key": binary(&device.signature_key),
        "status": device.status.as_str(),
        "certificate": certificate,
        "created_at": DateTime::from_millis(device.created_at),
        "approved_at": device.approved_at.map(DateTime::from_millis),
        "revoked_at": device.revoked_at.map(DateTime::from_millis),
    }
}

/// The certificate subdocument as `$set` writes it on approval.
pub(super) fn certificate_to_document(certificate: &DeviceCertificate) -> Document {
    doc! {
        "issuer_key_id": &certificate.issuer_key_id,
        "issued_at": DateTime::from_millis(certificate.issued_at),
        "signature": binary(&certificate.signature),
        "link_proof": certificate.link_proof.as_deref().map(binary),
    }
}

pub(super) fn device_from_document(document: &Document) -> StoreResult<DeviceRecord> {
    let certificate = match document.get("certificate") {
        None | Some(Bson::Null) => None,
        Some(Bson::Document(certificate)) => Some(DeviceCertificate {
            issuer_key_id: string_field(certificate, "issuer_key_id")?,
            issued_at: required_millis(certificate, "issued_at")?,
            signature: binary_field(certificate, "signature")?,
            // Certificates stored before link proofs existed lack the field.
            link_proof: match certificate.get("link_proof") {
                None | Some(Bson::Null) => None,
                Some(_) => Some(binary_field(certificate, "link_proof")?),
            },
        }),
        Some(_) => return Err(malformed("certificate")),
    };
    Ok(DeviceRecord {
        user_id: string_field(document, "user_id")?,
        device_id: string_field(document, "device_id")?,
        display_name: string_field(document, "display_name")?,
        signature_key: binary_field(document, "signature_key")?,
        status: stored_device_status(&string_field(document, "status")?)?,
        certificate,
        created_at: required_millis(document, "created_at")?,
        approved_at: millis_field(document, "approved_at")?,
        revoked_at: millis_field(document, "revoked_at")?,
    })
}

pub(super) fn key_package_to_document(package: &KeyPackageRecord) -> Document {
    doc! {
        "_id": binary(&package.key_package_ref),
        "user_id": &package.user_id,
        "device_id": &package.device_id,
        "message": binary(&package.message),
        "not_after": DateTime::from_millis(package.not_after),
        "last_resort": package.last_resort,
        "uploaded_at": DateTime::from_millis(package.uploaded_at),
    }
}

pub(super) fn key_package_from_document(document: &Document) -> StoreResult<KeyPackageRecord> {
    Ok(KeyPackageRecord {
        key_package_ref: binary_field(document, "_id")?,
        user_id: string_field(document, "user_id")?,
        device_id: string_field(document, "device_id")?,
        message: binary_field(document, "message")?,
        not_after: required_millis(document, "not_after")?,
        last_resort: document
            .get_bool("last_resort")
            .map_err(|_| malformed("last_resort"))?,
        uploaded_at: required_millis(document, "uploaded_at")?,
    })
}

pub(super) fn key_package_grant_to_document(grant: &KeyPackageGrant) -> Document {
    doc! {
        "key_package_ref": binary(&grant.key_package_ref),
        "claimer_user": &grant.claimer_user,
        "owner_user": &grant.owner_user,
        "owner_device": &grant.owner_device,
        "last_resort": grant.last_resort,
        "not_after": DateTime::from_millis(grant.not_after),
        "granted_at": DateTime::from_millis(grant.granted_at),
    }
}

pub(super) fn key_package_grant_from_document(document: &Document) -> StoreResult<KeyPackageGrant> {
    Ok(KeyPackageGrant {
        key_package_ref: binary_field(document, "key_package_ref")?,
        claimer_user: string_field(document, "claimer_user")?,
        owner_user: string_field(document, "owner_user")?,
        owner_device: string_field(document, "owner_device")?,
        last_resort: document
            .get_bool("last_resort")
            .map_err(|_| malformed("last_resort"))?,
        not_after: required_millis(document, "not_after")?,
        granted_at: required_millis(document, "granted_at")?,
    })
}

pub(super) fn key_package_use_to_document(package_use: &KeyPackageUse) -> Document {
    doc! {
        "_id": binary(&package_use.key_package_ref),
        "group_id": &package_use.group_id,
        "epoch": package_use.epoch,
        "commit_hash": binary(&package_use.commit_hash),
        "used_at": DateTime::from_millis(package_use.used_at),
    }
}

pub(super) fn key_package_use_from_document(document: &Document) -> StoreResult<KeyPackageUse> {
    Ok(KeyPackageUse {
        key_package_ref: binary_field(document, "_id")?,
        group_id: string_field(document, "group_id")?,
        epoch: i64_field(document, "epoch")?,
        commit_hash: binary_field(document, "commit_hash")?,
        used_at: required_millis(document, "used_at")?,
    })
}

/// The filter that matches exactly this use (its package, group, epoch and commit).
pub(super) fn key_package_use_filter(package_use: &KeyPackageUse) -> Document {
    doc! {
        "_id": binary(&package_use.key_package_ref),
        "group_id": &package_use.group_id,
        "epoch": package_use.epoch,
        "commit_hash": binary(&package_use.commit_hash),
    }
}

pub(super) fn log_record_to_document(record: &LogRecord) -> Document {
    let mut document = doc! {
        "group_id": &record.group_id,
        "seq": record.seq,
        "kind": record.kind.as_str(),
        "epoch": record.epoch,
        "commit_epoch": record.commit_epoch,
        "sender_user": &record.sender.user_id,
        "sender_device": &record.sender.device_id,
        "client_message_id": &record.client_message_id,
        "message": binary(&record.message),
        "created_at": DateTime::from_millis(record.created_at),
    };
    if let Some(members) = &record.members {
        let members: Vec<Document> = members
            .iter()
            .map(|m| doc! { "user_id": &m.user_id, "device_id": &m.device_id })
            .collect();
        document.insert("members", members);
        document.insert("welcome", record.welcome.as_deref().map(binary));
        document.insert("group_info", record.group_info.as_deref().map(binary));
        document.insert("public_state", record.public_state.as_deref().map(binary));
    }
    document
}

pub(super) fn i64_field(document: &Document, field: &str) -> StoreResult<i64> {
    match document.get(field) {
        Some(Bson::Int64(value)) => Ok(*value),
        Some(Bson::Int32(value)) => Ok(i64::from(*value)),
        _ => Err(malformed(field)),
    }
}

fn optional_binary(document: &Document, field: &str) -> StoreResult<Option<Vec<u8>>> {
    match document.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(_) => binary_field(document, field).map(Some),
    }
}

/// The `members` array of a creation or commit row (`None` on application rows).
pub(super) fn members_field(document: &Document) -> StoreResult<Option<Vec<GroupDevice>>> {
    match document.get("members") {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Array(members)) => members
            .iter()
            .map(|member| match member {
                Bson::Document(member) => Ok(GroupDevice {
                    user_id: string_field(member, "user_id")?,
                    device_id: string_field(member, "device_id")?,
                }),
                _ => Err(malformed("members")),
            })
            .collect::<StoreResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(malformed("members")),
    }
}

pub(super) fn log_record_from_document(document: &Document) -> StoreResult<LogRecord> {
    let members = members_field(document)?;
    Ok(LogRecord {
        group_id: string_field(document, "group_id")?,
        seq: i64_field(document, "seq")?,
        kind: stored_log_kind(&string_field(document, "kind")?)?,
        epoch: i64_field(document, "epoch")?,
        commit_epoch: i64_field(document, "commit_epoch")?,
        sender: GroupDevice {
            user_id: string_field(document, "sender_user")?,
            device_id: string_field(document, "sender_device")?,
        },
        client_message_id: string_field(document, "client_message_id")?,
        message: binary_field(document, "message")?,
        welcome: optional_binary(document, "welcome")?,
        group_info: optional_binary(document, "group_info")?,
        public_state: optional_binary(document, "public_state")?,
        members,
        created_at: required_millis(document, "created_at")?,
    })
}

pub(super) fn welcome_entry_to_document(entry: &WelcomeEntry) -> Document {
    doc! {
        "user_id": &entry.device.user_id,
        "device_id": &entry.device.device_id,
        "group_id": &entry.group_id,
        "epoch": entry.epoch,
        "commit_hash": binary(&entry.commit_hash),
        "created_at": DateTime::from_millis(entry.created_at),
    }
}

pub(super) fn welcome_entry_from_document(document: &Document) -> StoreResult<WelcomeEntry> {
    Ok(WelcomeEntry {
        device: GroupDevice {
            user_id: string_field(document, "user_id")?,
            device_id: string_field(document, "device_id")?,
        },
        group_id: string_field(document, "group_id")?,
        epoch: i64_field(document, "epoch")?,
        commit_hash: binary_field(document, "commit_hash")?,
        created_at: required_millis(document, "created_at")?,
    })
}

pub(super) fn message_to_document(message: &Message) -> StoreResult<Document> {
    let envelope = match bson::to_bson(&message.envelope) {
        Ok(Bson::Document(envelope)) => envelope,
        Ok(_) => {
            return Err(StoreError::invalid(
                "envelope",
                "envelope must be a JSON object",
            ));
        }
        // e.g. an integer beyond the signed 64-bit range, which BSON cannot represent.
        Err(error) => {
            return Err(StoreError::invalid(
                "envelope",
                format!("envelope cannot be stored as a document: {error}"),
            ));
        }
    };
    Ok(doc! {
        "_id": &message.id,
        "chat_id": &message.chat_id,
        "sender_id": &message.sender_id,
        "receiver_id": &message.receiver_id,
        "client_message_id": &message.client_message_id,
        "envelope": envelope,
        "created_at": DateTime::from_millis(message.created_at),
        "read_at": message.read_at.map(DateTime::from_millis),
    })
}

pub(super) fn message_from_document(document: &Document) -> StoreResult<Message> {
    let envelope = document
        .get_document("envelope")
        .map_err(|_| malformed("envelope"))?;
    let envelope: serde_json::Value =
        bson::from_bson(Bson::Document(envelope.clone())).map_err(|_| malformed("envelope"))?;
    Ok(Message {
        id: string_field(document, "_id")?,
        chat_id: string_field(document, "chat_id")?,
        sender_id: string_field(document, "sender_id")?,
        receiver_id: string_field(document, "receiver_id")?,
        client_message_id: string_field(document, "client_message_id")?,
        envelope,
        created_at: required_millis(document, "created_at")?,
        read_at: millis_field(document, "read_at")?,
    })
}

/// `(created_at, <tie_field>)` strictly beyond `(created_at, tie)` in the direction of `operator` (`$gt`/`$lt`).
pub(super) fn beyond(operator: &str, created_at: Millis, tie_field: &str, tie: &str) -> Document {
    let created_at = DateTime::from_millis(created_at);
    doc! {
        "$or": [
            { "created_at": { operator: created_at } },
            { "created_at": created_at, tie_field: { operator: tie } },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(envelope: serde_json::Value) -> Message {
        Message {
            id: "m_1".into(),
            chat_id: "c_1".into(),
            sender_id: "u_a".into(),
            receiver_id: "u_b".into(),
            client_message_id: "x".into(),
            envelope,
            created_at: 1,
            read_at: None,
        }
    }

    #[test]
    fn envelope_round_trips_through_bson_as_a_document() {
        let envelope = serde_json::json!({
            "version": 1,
            "createdAt": 1_764_145_653_000_i64,
            "recipients": [{ "userId": "u_b", "keyId": "k" }],
            "signature": { "alg": "PS256" },
            "ratio": 0.5,
        });
        let document = message_to_document(&message(envelope.clone()));
        assert!(matches!(
            document.as_ref().map(|d| d.get("envelope")),
            Ok(Some(Bson::Document(_)))
        ));
        let back = document.and_then(|d| message_from_document(&d));
        assert_eq!(back.ok().map(|m| m.envelope), Some(envelope));
    }

    #[test]
    fn unrepresentable_envelopes_are_bad_requests() {
        let huge = message(serde_json::json!({ "huge": u64::MAX }));
        assert!(matches!(
            message_to_document(&huge),
            Err(StoreError::Invalid {
                field: "envelope",
                ..
            })
        ));
    }
}
