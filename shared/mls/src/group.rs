//! A group as the Delivery Service sees it: openmls' `PublicGroup` (ratchet tree, group context, transcript
//! hashes; no secrets), kept between requests as an opaque **public state** blob, and the checks that decide
//! whether a commit bundle (commit, optional Welcome, new `GroupInfo`) may become the group's next epoch.
//!
//! The server validates what it can without group secrets (docs/mls.md, "Known limit of server validation"):
//! the commit's framing, epoch, signature and proposals against the tree; that every leaf is a device
//! credential; that the Welcome is addressed to exactly the added key packages; that the new `GroupInfo`
//! describes exactly the group context the commit produces, signed by the committer.

use std::collections::{BTreeMap, BTreeSet};

use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::{
    BasicCredential, ContentType, GroupId, LeafNodeIndex, MlsMessageBodyIn, MlsMessageIn,
    OpenMlsSignaturePublicKey, ProcessedMessageContent, ProposalOrRefType, ProposalStore,
    ProtocolMessage, PublicGroup, RatchetTreeIn, Sender, Verifiable, Welcome,
    tls_codec::{DeserializeBytes, Serialize as _},
};
use openmls_rust_crypto::{MemoryStorage, RustCrypto};

use crate::{CIPHERSUITE, DeviceIdentity, MlsError, MlsInput};

/// Largest MLS object the parser reads at all (a Welcome, GroupInfo or ratchet tree; a 1000-member tree is ~0.4
/// MB). Commits and application messages have the smaller bound of the log (`e2ee_storage::MAX_GROUP_MESSAGE_BYTES`).
pub const MAX_MLS_MESSAGE_BYTES: usize = 2 * 1024 * 1024;

/// One leaf of a group: which device it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub leaf_index: u32,
    pub identity: DeviceIdentity,
    pub signature_key: Vec<u8>,
}

/// A group's public state after a decision: what the store keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub group_id: Vec<u8>,
    pub epoch: u64,
    /// Every leaf, by leaf index.
    pub members: Vec<GroupMember>,
    /// The opaque public state to store and hand back to [`apply_commit`].
    pub public_state: Vec<u8>,
}

/// The public state is large and opaque: its length is enough in logs and test failures.
impl std::fmt::Debug for GroupSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupSnapshot")
            .field("group_id", &self.group_id)
            .field("epoch", &self.epoch)
            .field("members", &self.members)
            .field("public_state_bytes", &self.public_state.len())
            .finish()
    }
}

/// A key package the commit adds: whose, and its reference (what the Welcome names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedMember {
    pub identity: DeviceIdentity,
    pub key_package_ref: Vec<u8>,
}

/// A commit that validated: the next epoch and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedCommit {
    pub group: GroupSnapshot,
    pub committer: DeviceIdentity,
    /// An external commit (RFC 9420 §12.4.3.2): a member that lost its state rejoined from the GroupInfo,
    /// replacing its old leaf.
    pub external: bool,
    pub added: Vec<AddedMember>,
    /// Devices that were leaves before and are not any more.
    pub removed: Vec<DeviceIdentity>,
    /// Leaves of the new epoch whose (device, signature key) was not a leaf before: added devices, a rejoined
    /// device under a new key, a member that changed its signature key. Each must be a certified device.
    pub new_leaves: Vec<GroupMember>,
}

fn malformed(input: MlsInput, reason: &'static str) -> MlsError {
    MlsError::Malformed { input, reason }
}

fn parse_message(bytes: &[u8], input: MlsInput) -> Result<MlsMessageIn, MlsError> {
    if bytes.len() > MAX_MLS_MESSAGE_BYTES {
        return Err(malformed(input, "too large"));
    }
    MlsMessageIn::tls_deserialize_exact_bytes(bytes)
        .map_err(|_| malformed(input, "not a TLS-encoded MLSMessage"))
}

fn parse_group_info(bytes: &[u8]) -> Result<VerifiableGroupInfo, MlsError> {
    match parse_message(bytes, MlsInput::GroupInfo)?.extract() {
        MlsMessageBodyIn::GroupInfo(group_info) => Ok(group_info),
        _ => Err(malformed(
            MlsInput::GroupInfo,
            "the MLSMessage is not a GroupInfo",
        )),
    }
}

/// The members of `group`, each a device credential.
fn members(group: &PublicGroup) -> Result<Vec<GroupMember>, MlsError> {
    group
        .members()
        .map(|member| {
            let credential = BasicCredential::try_from(member.credential)
                .map_err(|_| MlsError::InvalidCredential("a leaf is not a basic credential"))?;
            Ok(GroupMember {
                leaf_index: member.index.u32(),
                identity: DeviceIdentity::parse(credential.identity())?,
                signature_key: member.signature_key,
            })
        })
        .collect()
}

/// The public state: `u32be(len) || group id`, then each storage entry as `u32be(len) key u32be(len) value`,
/// sorted by key (the same group state always gives the same bytes).
fn encode_state(group_id: &GroupId, storage: &MemoryStorage) -> Result<Vec<u8>, MlsError> {
    let mut out = Vec::new();
    push_field(&mut out, group_id.as_slice())?;
    out.extend_from_slice(&encode_storage(storage)?);
    Ok(out)
}

fn push_field(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), MlsError> {
    let length = u32::try_from(bytes.len()).map_err(|_| MlsError::Internal)?;
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// An openmls `MemoryStorage` as bytes: its entries sorted by key, each `u32be(len) key u32be(len) value` (the
/// server's public state after the group id; a client's whole MLS state, sealed at rest). Deleted entries are
/// simply absent: what openmls deletes is not in the encoding.
pub fn encode_storage(storage: &MemoryStorage) -> Result<Vec<u8>, MlsError> {
    let values = storage.values.read().map_err(|_| MlsError::Internal)?;
    let sorted: BTreeMap<&Vec<u8>, &Vec<u8>> = values.iter().collect();
    let mut out = Vec::new();
    for (key, value) in sorted {
        push_field(&mut out, key)?;
        push_field(&mut out, value)?;
    }
    Ok(out)
}

/// The inverse of [`encode_storage`]. Only for bytes this system wrote (the store's state, a client's own
/// sealed state): a defect is [`MlsError::Internal`].
pub fn decode_storage(bytes: &[u8]) -> Result<MemoryStorage, MlsError> {
    let mut rest = bytes;
    let storage = MemoryStorage::default();
    {
        let mut values = storage.values.write().map_err(|_| MlsError::Internal)?;
        while !rest.is_empty() {
            let key = take_field(&mut rest)?;
            values.insert(key, take_field(&mut rest)?);
        }
    }
    Ok(storage)
}

/// One `u32be(len) || bytes` field off the front of `rest`.
fn take_field(rest: &mut &[u8]) -> Result<Vec<u8>, MlsError> {
    // Stored state is the server's own output: a defect is an internal error, never the caller's.
    let (length, tail) = rest.split_first_chunk::<4>().ok_or(MlsError::Internal)?;
    let length = usize::try_from(u32::from_be_bytes(*length)).map_err(|_| MlsError::Internal)?;
    if tail.len() < length {
        return Err(MlsError::Internal);
    }
    let (value, tail) = tail.split_at(length);
    *rest = tail;
    Ok(value.to_vec())
}

fn decode_state(bytes: &[u8]) -> Result<(GroupId, MemoryStorage), MlsError> {
    let mut rest = bytes;
    let group_id = GroupId::from_slice(&take_field(&mut rest)?);
    Ok((group_id, decode_storage(rest)?))
}

fn snapshot(group: &PublicGroup, storage: &MemoryStorage) -> Result<GroupSnapshot, MlsError> {
    Ok(GroupSnapshot {
        group_id: group.group_id().as_slice().to_vec(),
        epoch: group.group_context().epoch().as_u64(),
        members: members(group)?,
        public_state: encode_state(group.group_id(), storage)?,
    })
}

/// A new group from its creator's `GroupInfo` and ratchet tree (both TLS-encoded; the GroupInfo as an
/// `MLSMessage`): ciphersuite 0x0001, epoch 0, and `creator` its only member. Everyone else joins through
/// commits the server validates.
pub fn create_group(
    group_info: &[u8],
    ratchet_tree: &[u8],
    creator: &DeviceIdentity,
) -> Result<GroupSnapshot, MlsError> {
    let group_info = parse_group_info(group_info)?;
    if group_info.ciphersuite() != CIPHERSUITE {
        return Err(MlsError::UnsupportedCiphersuite(u16::from(
            group_info.ciphersuite(),
        )));
    }
    if ratchet_tree.len() > MAX_MLS_MESSAGE_BYTES {
        return Err(malformed(MlsInput::RatchetTree, "too large"));
    }
    let tree = RatchetTreeIn::tls_deserialize_exact_bytes(ratchet_tree)
        .map_err(|_| malformed(MlsInput::RatchetTree, "not a TLS-encoded ratchet tree"))?;
    let storage = MemoryStorage::default();
    let (group, _) = PublicGroup::from_external(
        &RustCrypto::default(),
        &storage,
        tree,
        group_info,
        ProposalStore::new(),
    )
    .map_err(|error| MlsError::InvalidGroup(error.to_string()))?;
    let created = snapshot(&group, &storage)?;
    let only_creator = created.members.len() == 1 && created.members[0].identity == *creator;
    if created.epoch != 0 || !only_creator {
        return Err(MlsError::InvalidGroup(
            "a new group is at epoch 0 with its creator as the only member".to_owned(),
        ));
    }
    Ok(created)
}

/// Validates a commit bundle against the group's stored `public_state` and returns the next epoch.
///
/// * `commit`: an `MLSMessage` holding a `PublicMessage` commit of a member, for the current epoch (a commit
///   for another epoch is [`MlsError::WrongEpoch`]), with its proposals inline (proposals by reference are
///   refused: the server keeps no proposal queue); or an external commit by which a device that is a leaf
///   rejoins after losing its state (a resync: it replaces its own old leaf; nobody else joins externally);
/// * `welcome`: required exactly when the commit adds members, and then for exactly the added key packages;
/// * `group_info`: the `GroupInfo` of the new epoch, signed by the committer, describing exactly the group
///   context the commit produces (members who lose their state rejoin from it).
pub fn apply_commit(
    public_state: &[u8],
    commit: &[u8],
    welcome: Option<&[u8]>,
    group_info: &[u8],
) -> Result<AcceptedCommit, MlsError> {
    let crypto = RustCrypto::default();
    let (group_id, storage) = decode_state(public_state)?;
    let mut group = PublicGroup::load(&storage, &group_id)
        .map_err(|_| MlsError::Internal)?
        .ok_or(MlsError::Internal)?;
    let before = members(&group)?;

    let message = parse_message(commit, MlsInput::Commit)?;
    let message: ProtocolMessage = match message.extract() {
        MlsMessageBodyIn::PublicMessage(message) => message.into(),
        MlsMessageBodyIn::PrivateMessage(_) => {
            return Err(malformed(
                MlsInput::Commit,
                "handshake messages travel as PublicMessage",
            ));
        }
        _ => {
            return Err(malformed(
                MlsInput::Commit,
                "the MLSMessage is not a PublicMessage",
            ));
        }
    };
    let current = group.group_context().epoch().as_u64();
    if message.epoch().as_u64() != current {
        return Err(MlsError::WrongEpoch {
            current,
            found: message.epoch().as_u64(),
        });
    }
    if message.group_id() != group.group_id() {
        return Err(MlsError::InvalidCommit(
            "the commit is for another group".to_owned(),
        ));
    }
    let processed = group
        .process_message(&crypto, message)
        .map_err(|error| MlsError::InvalidCommit(error.to_string()))?;
    let member_sender = match processed.sender() {
        Sender::Member(index) => Some(*index),
        Sender::NewMemberCommit => None,
        _ => {
            return Err(MlsError::InvalidCommit(
                "the committer is not a member".to_owned(),
            ));
        }
    };
    let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
        return Err(MlsError::InvalidCommit(
            "only commits are accepted (proposals go inline in a commit)".to_owned(),
        ));
    };
    // An external committer takes the leftmost free leaf (its own old one, once a resync removes it).
    let committer_index = match member_sender {
        Some(index) => index,
        None => group
            .ext_commit_sender_index(&staged)
            .map_err(|_| MlsError::Internal)?,
    };
    if staged
        .queued_proposals()
        .any(|proposal| proposal.proposal_or_ref_type() == ProposalOrRefType::Reference)
    {
        return Err(MlsError::InvalidCommit(
            "proposals by reference are not accepted; put them inline".to_owned(),
        ));
    }
    let mut added = Vec::new();
    for proposal in staged.add_proposals() {
        let key_package = proposal.add_proposal().key_package();
        let credential = BasicCredential::try_from(key_package.leaf_node().credential().clone())
            .map_err(|_| MlsError::InvalidCredential("an added leaf is not a basic credential"))?;
        let key_package_ref = key_package
            .hash_ref(&crypto)
            .map_err(|_| MlsError::Internal)?;
        added.push(AddedMember {
            identity: DeviceIdentity::parse(credential.identity())?,
            key_package_ref: key_package_ref.as_slice().to_vec(),
        });
    }
    check_welcome(welcome, &added)?;
    group
        .merge_commit(&storage, *staged)
        .map_err(|error| MlsError::InvalidCommit(error.to_string()))?;
    check_group_info(&crypto, &group, committer_index, group_info)?;

    let after = snapshot(&group, &storage)?;
    let mut devices = BTreeSet::new();
    if let Some(twice) = after
        .members
        .iter()
        .find(|member| !devices.insert(&member.identity))
    {
        return Err(MlsError::InvalidCommit(format!(
            "{} would hold two leaves (a rejoining device replaces its old leaf)",
            twice.identity
        )));
    }
    let committer = after
        .members
        .iter()
        .find(|member| member.leaf_index == committer_index.u32())
        .map(|member| member.identity.clone())
        .ok_or_else(|| {
            MlsError::InvalidCommit("the committer is not a leaf of the new epoch".to_owned())
        })?;
    if member_sender.is_none() && !before.iter().any(|member| member.identity == committer) {
        return Err(MlsError::InvalidCommit(
            "only a device that is a leaf may rejoin by external commit".to_owned(),
        ));
    }
    let known: BTreeSet<(&DeviceIdentity, &[u8])> = before
        .iter()
        .map(|member| (&member.identity, member.signature_key.as_slice()))
        .collect();
    let new_leaves = after
        .members
        .iter()
        .filter(|member| !known.contains(&(&member.identity, member.signature_key.as_slice())))
        .cloned()
        .collect();
    let removed = before
        .into_iter()
        .map(|member| member.identity)
        .filter(|identity| !devices.contains(identity))
        .collect();
    Ok(AcceptedCommit {
        group: after,
        committer,
        external: member_sender.is_none(),
        added,
        removed,
        new_leaves,
    })
}

/// A Welcome exactly when members are added, addressed to exactly their key packages.
fn check_welcome(welcome: Option<&[u8]>, added: &[AddedMember]) -> Result<(), MlsError> {
    let Some(welcome) = welcome else {
        return if added.is_empty() {
            Ok(())
        } else {
            Err(MlsError::WelcomeMismatch(
                "the commit adds members but no Welcome came with it",
            ))
        };
    };
    let welcome: Welcome = match parse_message(welcome, MlsInput::Welcome)?.extract() {
        MlsMessageBodyIn::Welcome(welcome) => welcome,
        _ => {
            return Err(malformed(
                MlsInput::Welcome,
                "the MLSMessage is not a Welcome",
            ));
        }
    };
    if welcome.ciphersuite() != CIPHERSUITE {
        return Err(MlsError::UnsupportedCiphersuite(u16::from(
            welcome.ciphersuite(),
        )));
    }
    let named: BTreeSet<Vec<u8>> = welcome
        .secrets()
        .iter()
        .map(|secrets| secrets.new_member().as_slice().to_vec())
        .collect();
    let expected: BTreeSet<Vec<u8>> = added.iter().map(|a| a.key_package_ref.clone()).collect();
    if named != expected || named.len() != welcome.secrets().len() {
        return Err(MlsError::WelcomeMismatch(
            "the Welcome is not addressed to exactly the key packages the commit adds",
        ));
    }
    Ok(())
}

/// The new `GroupInfo` is signed by the committer's (new) leaf key and carries exactly the merged group
/// context, confirmation tag and the committer as signer. (Its extensions are the committer's choice.)
fn check_group_info(
    crypto: &RustCrypto,
    group: &PublicGroup,
    committer: LeafNodeIndex,
    group_info: &[u8],
) -> Result<(), MlsError> {
    let group_info = parse_group_info(group_info)?;
    let invalid = |why: &str| MlsError::InvalidGroupInfo(why.to_owned());
    let signer = group
        .leaf(committer)
        .ok_or_else(|| invalid("the committer left the group"))?;
    let key = OpenMlsSignaturePublicKey::new(
        signer.signature_key().as_slice().to_vec().into(),
        CIPHERSUITE.signature_algorithm(),
    )
    .map_err(|_| MlsError::Internal)?;
    group_info
        .verify_no_out(crypto, &key)
        .map_err(|_| invalid("the GroupInfo is not signed by the committer"))?;
    let payload = group_info
        .unsigned_payload()
        .map_err(|_| MlsError::Internal)?;
    let context = group
        .group_context()
        .tls_serialize_detached()
        .map_err(|_| MlsError::Internal)?;
    let mut tail = group
        .confirmation_tag()
        .tls_serialize_detached()
        .map_err(|_| MlsError::Internal)?;
    tail.extend_from_slice(&committer.u32().to_be_bytes());
    if !payload.starts_with(&context)
        || !payload.ends_with(&tail)
        || payload.len() < context.len() + tail.len()
    {
        return Err(invalid(
            "the GroupInfo does not describe the epoch the commit produces",
        ));
    }
    Ok(())
}

/// The TLS encoding of the group's ratchet tree (for a member that rejoins by external commit: openmls'
/// GroupInfo carries no tree by default).
pub fn ratchet_tree(public_state: &[u8]) -> Result<Vec<u8>, MlsError> {
    let (group_id, storage) = decode_state(public_state)?;
    let group = PublicGroup::load(&storage, &group_id)
        .map_err(|_| MlsError::Internal)?
        .ok_or(MlsError::Internal)?;
    group
        .export_ratchet_tree()
        .tls_serialize_detached()
        .map_err(|_| MlsError::Internal)
}

/// Checks an application message before it is stored (the server cannot decrypt it): an `MLSMessage` holding a
/// `PrivateMessage` of content type application, for group `group_id`. Returns the epoch it was sent in, which
/// the store checks against the group's recent epochs.
pub fn application_message_epoch(message: &[u8], group_id: &[u8]) -> Result<u64, MlsError> {
    let parsed = parse_message(message, MlsInput::ApplicationMessage)?;
    let MlsMessageBodyIn::PrivateMessage(private) = parsed.extract() else {
        return Err(malformed(
            MlsInput::ApplicationMessage,
            "application messages travel as PrivateMessage",
        ));
    };
    if private.content_type() != ContentType::Application {
        return Err(MlsError::InvalidApplicationMessage(
            "handshake messages travel as PublicMessage commits",
        ));
    }
    if private.group_id().as_slice() != group_id {
        return Err(MlsError::InvalidApplicationMessage(
            "the message is for another group",
        ));
    }
    Ok(private.epoch().as_u64())
}
