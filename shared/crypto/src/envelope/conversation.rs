//! The one rule for a 1:1 message's recipients (docs/envelope.md, "Recipients of a 1:1 message"): sealed for
//! the receiver's key and for the sender's own key, so the sender can read back what they sent — one entry
//! when both are the same key (a note to self). Senders build their recipient list with
//! [`conversation_recipients`]; the server checks a received envelope with [`Envelope::conversation_entries`].

use super::{Envelope, Recipient, WrappedKey};

/// The recipients to [`seal`](super::seal) a 1:1 message for: `receiver` first, then `sender` unless it is
/// the same key.
pub fn conversation_recipients<'a>(
    receiver: Recipient<'a>,
    sender: Recipient<'a>,
) -> Vec<Recipient<'a>> {
    let mut recipients = vec![receiver];
    if sender.key.key_id() != receiver.key.key_id() {
        recipients.push(sender);
    }
    recipients
}

/// The recipient entries of a 1:1 envelope, checked by [`Envelope::conversation_entries`].
#[derive(Debug, Clone, Copy)]
pub struct ConversationEntries<'e> {
    /// The entry for the receiver (the first one naming the receiver's user id).
    pub receiver: &'e WrappedKey,
    entries: &'e [WrappedKey],
    receiver_index: usize,
}

impl<'e> ConversationEntries<'e> {
    /// Every entry but the receiver's, in envelope order: the sender's keys, or more keys of the receiver.
    pub fn others(&self) -> impl Iterator<Item = &'e WrappedKey> + use<'e> {
        let skip = self.receiver_index;
        self.entries
            .iter()
            .enumerate()
            .filter(move |(index, _)| *index != skip)
            .map(|(_, entry)| entry)
    }
}

/// Why an envelope breaks the 1:1 rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConversationError {
    #[error("the envelope is not wrapped for the receiver")]
    ReceiverMissing,
    #[error("a 1:1 message may only be wrapped for its sender and receiver")]
    ForeignRecipient,
}

impl Envelope {
    /// Checks that this envelope, from its `senderId`, is wrapped for `receiver_id` and for no one but the
    /// sender and the receiver, and returns the receiver's entry and the others. (Whether those keys are the
    /// users' registered keys is for the caller, who has the key directory.)
    pub fn conversation_entries(
        &self,
        receiver_id: &str,
    ) -> Result<ConversationEntries<'_>, ConversationError> {
        let recipients = self.recipients();
        let receiver_index = recipients
            .iter()
            .position(|r| r.user_id == receiver_id)
            .ok_or(ConversationError::ReceiverMissing)?;
        if recipients
            .iter()
            .any(|r| r.user_id != receiver_id && r.user_id != self.sender_id())
        {
            return Err(ConversationError::ForeignRecipient);
        }
        Ok(ConversationEntries {
            receiver: &recipients[receiver_index],
            entries: recipients,
            receiver_index,
        })
    }
}
