//! A device's own commits when answers get lost (review finding N4), and the way back into a group whose
//! accepted commit this device cannot process (docs/mls.md, "Known limit of server validation, and recovery").
//!
//! * A commit is saved as [`PendingCommit`] (with openmls' pending commit) **before** it is posted. If the
//!   answer is lost, the log decides: the row of that epoch is this commit ([`Resolution::Merge`]) or another
//!   member's ([`Resolution::Drop`]: discard it, process theirs). A device never stays behind because a 201 went
//!   missing.
//! * A device that is behind the group (the server's epoch is newer) after reading every row it can, rejoins by
//!   external commit from the epoch's GroupInfo and ratchet tree ([`external_rejoin`]), with the same trust check
//!   on every member as for a Welcome.

use openmls::prelude::tls_codec::DeserializeBytes as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_traits::OpenMlsProvider;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use e2ee_mls::DeviceIdentity;

use crate::welcome::identity_of;

/// A commit this device made and is posting (or posted without seeing the answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingCommit {
    /// The epoch the commit starts: its log row's `epoch`.
    pub epoch: u64,
    /// Lowercase hex SHA-256 of the commit's `MLSMessage` bytes, as the log row carries them.
    pub commit_sha256: String,
}

/// What a log row means for a pending commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Not the row that decides (a message, or an older epoch): keep waiting.
    Keep,
    /// The server stored this very commit: merge it.
    Merge,
    /// Another commit took the epoch: discard the pending one and process the row as usual.
    Drop,
}

impl PendingCommit {
    pub fn new(epoch: u64, commit: &[u8]) -> Self {
        PendingCommit {
            epoch,
            commit_sha256: hex::encode(Sha256::digest(commit)),
        }
    }

    /// Decides on the log row `(is a commit, epoch, message bytes)`.
    pub fn resolve(&self, is_commit: bool, epoch: u64, message: &[u8]) -> Resolution {
        self.resolve_digest(is_commit, epoch, &hex::encode(Sha256::digest(message)))
    }

    /// [`PendingCommit::resolve`] on the row's message given by its SHA-256 (lowercase hex): a commit row of
    /// an older epoch, or any message row, keeps waiting; a commit row of this epoch with these bytes is this
    /// commit; any other commit row at or past this epoch means another commit took it.
    pub fn resolve_digest(&self, is_commit: bool, epoch: u64, message_sha256: &str) -> Resolution {
        if !is_commit || epoch < self.epoch {
            return Resolution::Keep;
        }
        if epoch == self.epoch && message_sha256 == self.commit_sha256 {
            Resolution::Merge
        } else {
            Resolution::Drop
        }
    }

    /// What the end of a log page means for a pending commit no row settled: once the whole log is read
    /// (`log_complete`: no page follows), the server never stored it ([`Resolution::Drop`]); before that, the
    /// rest of the log may still hold it ([`Resolution::Keep`]).
    pub fn at_end_of_log(&self, log_complete: bool) -> Resolution {
        if log_complete {
            Resolution::Drop
        } else {
            Resolution::Keep
        }
    }
}

/// Whether a device at `local_epoch`, having read every row it could, must rejoin a group the server says is
/// at `server_epoch`: only when the group moved past it (a forged row alone never makes it rejoin).
pub fn must_rejoin(local_epoch: u64, server_epoch: u64) -> bool {
    server_epoch > local_epoch
}

/// Why a rejoin did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejoinRefusal {
    #[error("the group's GroupInfo or ratchet tree cannot be used ({0})")]
    Unusable(String),
    #[error(
        "the group has {member}, which is not certified by a key this device trusts: not rejoined"
    )]
    UntrustedMember { member: String },
}

/// An external commit that puts this device back into the group (replacing its old leaf), and the members it
/// found, checked: `trusted(device, signature key)` must hold for every member but this device. The returned group has
/// the commit merged; it counts only once the server accepts `commit` (else the caller drops this state).
pub fn external_rejoin<P: OpenMlsProvider>(
    provider: &P,
    signer: &SignatureKeyPair,
    credential: CredentialWithKey,
    config: MlsGroupJoinConfig,
    group_info: &[u8],
    ratchet_tree: &[u8],
    trusted: impl Fn(&DeviceIdentity, &[u8]) -> bool,
) -> Result<(MlsGroup, Vec<u8>), RejoinRefusal> {
    let me = identity_of(&credential.credential)
        .ok_or_else(|| RejoinRefusal::Unusable("this device's credential".into()))?;
    let unusable =
        |what: &str, e: &dyn std::fmt::Debug| RejoinRefusal::Unusable(format!("{what}: {e:?}"));
    let message = MlsMessageIn::tls_deserialize_exact_bytes(group_info)
        .map_err(|e| unusable("GroupInfo", &e))?;
    let MlsMessageBodyIn::GroupInfo(info) = message.extract() else {
        return Err(RejoinRefusal::Unusable("not a GroupInfo".into()));
    };
    let tree = RatchetTreeIn::tls_deserialize_exact_bytes(ratchet_tree)
        .map_err(|e| unusable("tree", &e))?;
    let (mut group, bundle) = MlsGroup::external_commit_builder()
        .with_ratchet_tree(tree)
        .with_config(config)
        .build_group(provider, info, credential)
        .map_err(|e| unusable("external commit", &e))?
        .load_psks(provider.storage())
        .map_err(|e| unusable("external commit", &e))?
        .build(provider.rand(), provider.crypto(), signer, |_| true)
        .map_err(|e| unusable("external commit", &e))?
        .finalize(provider)
        .map_err(|e| unusable("external commit", &e))?;
    if let Some(member) = group.members().find_map(|member| {
        let identity = identity_of(&member.credential)?;
        (identity != me && !trusted(&identity, &member.signature_key)).then_some(identity)
    }) {
        return Err(RejoinRefusal::UntrustedMember {
            member: member.to_string(),
        });
    }
    let (commit, _, _) = bundle.into_contents();
    let commit = commit
        .to_bytes()
        .map_err(|e| unusable("encoding the commit", &e))?;
    group
        .merge_pending_commit(provider)
        .map_err(|e| unusable("merging the commit", &e))?;
    Ok((group, commit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_commit_is_merged_by_its_own_row_and_dropped_by_another() {
        let pending = PendingCommit::new(4, b"our commit");
        assert_eq!(pending.resolve(true, 4, b"our commit"), Resolution::Merge);
        assert_eq!(pending.resolve(true, 4, b"their commit"), Resolution::Drop);
        assert_eq!(pending.resolve(true, 5, b"our commit"), Resolution::Drop);
        assert_eq!(pending.resolve(false, 4, b"our commit"), Resolution::Keep);
        assert_eq!(pending.resolve(true, 3, b"older"), Resolution::Keep);
        assert_eq!(pending.at_end_of_log(false), Resolution::Keep);
        assert_eq!(pending.at_end_of_log(true), Resolution::Drop);
        assert!(must_rejoin(3, 4) && !must_rejoin(4, 4) && !must_rejoin(5, 4));
    }
}
