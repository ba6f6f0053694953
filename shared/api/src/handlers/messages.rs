//! Send, receive, mark read, history. The server checks envelopes structurally and by key id; it never
//! decrypts them (it has no private key).

use e2ee_protocol::ErrorCode;
use std::sync::Arc;

use e2ee_crypto::{ConversationError, Envelope};
use e2ee_protocol::{MarkReadResponse, SendRequest, SendResponse};
use e2ee_storage::{Inserted, KeyStatus, NewMessage, Order};
use lambda_http::Request;
use lambda_http::http::StatusCode;

use super::{
    HandlerResult, MAX_CLOCK_SKEW_MS, SignatureUse, active_key_record, page_request, require_user,
    sealed_page, signing_key,
};
use crate::cursor::CursorScope;
use crate::error::{ApiError, crypto_error};
use crate::http::{json_body, json_response, path_param, query_param};
use crate::state::AppState;
use crate::throttle::{self, Quota};

/// `POST /api/messages/send`
pub async fn send(state: Arc<AppState>, request: Request) -> HandlerResult {
    let caller = state.tokens.authenticate(&request)?;
    let body: SendRequest = json_body(&request)?;
    let envelope = Envelope::from_json(body.envelope.get().as_bytes()).map_err(crypto_error)?;
    check_envelope(&state, &caller, &body.receiver_id, &envelope).await?;
    throttle::spend(&state, Quota::SendsPerHour, &caller).await?;

    let new_message = NewMessage {
        sender_id: caller,
        receiver_id: body.receiver_id,
        client_message_id: envelope.message_id().to_owned(),
        envelope: envelope.to_value(),
    };
    // A retry of the same envelope is `Existing`; another envelope under a used id is 409 message_id_reused.
    let (status, message) = match state.stores.messages.insert(new_message).await? {
        Inserted::Created(message) => (StatusCode::CREATED, message),
        Inserted::Existing(message) => (StatusCode::OK, message),
    };
    Ok(json_response(
        status,
        &SendResponse {
            message_id: message.id,
            chat_id: message.chat_id,
            client_message_id: message.client_message_id,
            created_at: message.created_at,
        },
    ))
}

/// Everything the server can check without decrypting: who sends, who receives, with which keys, and the
/// sender's signature when there is one.
async fn check_envelope(
    state: &AppState,
    caller: &str,
    receiver_id: &str,
    envelope: &Envelope,
) -> Result<(), ApiError> {
    if envelope.sender_id() != caller {
        return Err(ApiError::forbidden(
            ErrorCode::SenderMismatch,
            "the envelope's senderId must be your user id",
        ));
    }
    require_user(state, receiver_id, ErrorCode::ReceiverNotFound).await?;
    let entries = envelope
        .conversation_entries(receiver_id)
        .map_err(|error| match error {
            ConversationError::ReceiverMissing => {
                ApiError::unprocessable(ErrorCode::ReceiverNotInEnvelope, error.to_string())
            }
            ConversationError::ForeignRecipient => {
                ApiError::unprocessable(ErrorCode::ForeignRecipient, error.to_string())
            }
        })?;
    let active = active_key_record(state, receiver_id).await?;
    if active.as_ref().map(|k| k.key_id.as_str()) != Some(entries.receiver.key_id.as_str()) {
        return Err(ApiError::conflict(
            ErrorCode::StaleRecipientKey,
            "the receiver's active key has changed; fetch it again and re-seal",
        ));
    }
    for recipient in entries.others() {
        match state
            .stores
            .keys
            .get(&recipient.user_id, &recipient.key_id)
            .await?
        {
            Some(record) if matches!(record.status, KeyStatus::Active | KeyStatus::Retired) => {}
            _ => {
                return Err(ApiError::unprocessable(
                    ErrorCode::UnknownRecipientKey,
                    "a recipient key id is not a registered key of that user",
                ));
            }
        }
    }
    // Readers show the signed time: it may not lie in the future (beyond clock skew).
    let now = throttle::now_millis();
    if i64::try_from(envelope.created_at()).map_or(true, |t| t > now + MAX_CLOCK_SKEW_MS) {
        return Err(ApiError::unprocessable(
            ErrorCode::InvalidCreatedAt,
            "the envelope's createdAt lies in the future",
        ));
    }
    if let Some(signature) = envelope.signature() {
        let purpose = SignatureUse::Sending { now };
        let key = signing_key(
            state,
            caller,
            &signature.key_id,
            envelope.created_at(),
            purpose,
        )
        .await?;
        envelope.verify_signature(&key).map_err(crypto_error)?;
    }
    Ok(())
}

/// `GET /api/messages/receive/{userId}`: the caller's unread messages, oldest first. Does not mark them read.
pub async fn receive(state: Arc<AppState>, request: Request) -> HandlerResult {
    let caller = state.tokens.authenticate(&request)?;
    let user_id = path_param(&request, "userId", "/api/messages/receive/")?;
    if user_id != caller {
        return Err(ApiError::forbidden(
            ErrorCode::NotYourInbox,
            "you can only read your own inbox",
        ));
    }
    let scope = CursorScope::Inbox { caller: &caller };
    let page = state
        .stores
        .messages
        .unread_for(&caller, page_request(&state, &request, scope)?)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &sealed_page(&state, scope, page),
    ))
}

/// `PATCH /api/messages/mark-read/{messageId}`: receiver only, idempotent.
pub async fn mark_read(state: Arc<AppState>, request: Request) -> HandlerResult {
    let caller = state.tokens.authenticate(&request)?;
    let message_id = path_param(&request, "messageId", "/api/messages/mark-read/")?;
    let message = state
        .stores
        .messages
        .mark_read(&message_id, &caller)
        .await?;
    let read_at = message
        .read_at
        .ok_or_else(|| ApiError::internal("mark_read returned no read_at"))?;
    Ok(json_response(
        StatusCode::OK,
        &MarkReadResponse {
            message_id: message.id,
            read_at,
        },
    ))
}

/// `GET /api/messages/history/{chatId}`: both directions of a chat, for its two participants only; to anyone
/// else the chat does not exist.
pub async fn history(state: Arc<AppState>, request: Request) -> HandlerResult {
    let caller = state.tokens.authenticate(&request)?;
    let chat_id = path_param(&request, "chatId", "/api/messages/history/")?;
    let order = match query_param(&request, "order").as_deref() {
        None | Some("asc") => Order::Asc,
        Some("desc") => Order::Desc,
        Some(_) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidOrder,
                "order must be asc or desc",
            ));
        }
    };
    // Participation first, from the chat record alone: an unknown chat and someone else's chat answer alike,
    // and no message is read for a caller who may not see it.
    let participants = state.stores.messages.chat_participants(&chat_id).await?;
    if !participants.is_some_and(|users| users.contains(&caller)) {
        return Err(ApiError::not_found(ErrorCode::ChatNotFound, "no such chat"));
    }
    let scope = CursorScope::History {
        caller: &caller,
        chat_id: &chat_id,
        order,
    };
    let page = state
        .stores
        .messages
        .history(&chat_id, order, page_request(&state, &request, scope)?)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &sealed_page(&state, scope, page),
    ))
}
