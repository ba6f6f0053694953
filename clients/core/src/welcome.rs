//! Joining a group from a Welcome (docs/mls.md, "Joining"), in two steps so the driver can fetch what the
//! decision needs in between:
//!
//! 1. [`WelcomeJoin::open`] decrypts the Welcome with this device's key package and checks that it names the
//!    group the server labelled it with and that this device does not hold that group already (review
//!    finding N3: a Welcome must never replace a group's state). It says which users' devices must be
//!    checked ([`WelcomeJoin::other_users`]).
//! 2. [`WelcomeJoin::finish`] joins if every other member is a device this device trusts.
//!
//! The decisions themselves are pure functions over data ([`check_group`], [`check_members`],
//! [`WelcomeRefusal::is_final`]), which the client vectors (`tests/vectors/client/`) replay.
//!
//! Decrypting consumes the key package in openmls; every refusal puts it back, so a refused Welcome does not
//! burn it. A refusal is reported, never an error of the whole sync (review finding N1), and
//! [`WelcomeRefusal::is_final`] says when the driver acknowledges it so that it leaves the inbox.

use std::collections::BTreeSet;

use e2ee_mls::DeviceIdentity;
use openmls::prelude::tls_codec::DeserializeBytes as _;
use openmls::prelude::*;
use openmls_traits::OpenMlsProvider;
use openmls_traits::storage::StorageProvider as _;

/// How long a Welcome refused only because a member is not trusted (yet) stays in the inbox: the user may
/// accept a contact's key change in the meantime and sync again.
pub const UNTRUSTED_WELCOME_KEPT_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// Why a Welcome was not joined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WelcomeRefusal {
    /// Not a Welcome, or not one this device can decrypt (no key package of this device).
    #[error("a Welcome this device cannot read ({0}): not joined")]
    Unreadable(String),
    /// The Welcome names another group than the server's label.
    #[error("a Welcome labelled as group {labelled} is for group {actual}: not joined")]
    GroupMismatch { labelled: String, actual: String },
    /// This device holds the group already: a Welcome never replaces a group's state.
    #[error(
        "a Welcome to group {0}, which this device holds already: ignored, the group is unchanged"
    )]
    AlreadyHeld(String),
    /// A member is not a device this device trusts.
    #[error(
        "a Welcome to a group with {member}, which is not certified by a key this device trusts: not joined"
    )]
    UntrustedMember { member: String },
    /// openmls refused the group (its tree, signatures or extensions).
    #[error("an invalid Welcome ({0}): not joined")]
    Invalid(String),
}

impl WelcomeRefusal {
    /// The refusal's stable code, as the client vectors record it (`tests/vectors/client/README.md`).
    pub fn code(&self) -> &'static str {
        match self {
            WelcomeRefusal::Unreadable(_) => "unreadable",
            WelcomeRefusal::GroupMismatch { .. } => "group_mismatch",
            WelcomeRefusal::AlreadyHeld(_) => "already_held",
            WelcomeRefusal::UntrustedMember { .. } => "untrusted_member",
            WelcomeRefusal::Invalid(_) => "invalid",
        }
    }

    /// Whether the refusal can never turn into a join, so the driver acknowledges the Welcome (it leaves the
    /// inbox): every refusal but an untrusted member, which is kept [`UNTRUSTED_WELCOME_KEPT_MS`] after the
    /// server stored the Welcome (`stored_at`).
    pub fn is_final(&self, stored_at: i64, now_ms: i64) -> bool {
        match self {
            WelcomeRefusal::UntrustedMember { .. } => {
                now_ms.saturating_sub(stored_at) >= UNTRUSTED_WELCOME_KEPT_MS
            }
            _ => true,
        }
    }
}

/// The Welcome's own group id (hex) against the server's label `labelled` and the groups this device holds
/// (`held`): it must name the labelled group, and one this device does not hold (review finding N3).
pub fn check_group(
    labelled: &str,
    actual: &str,
    held: impl Fn(&str) -> bool,
) -> Result<(), WelcomeRefusal> {
    if actual != labelled {
        return Err(WelcomeRefusal::GroupMismatch {
            labelled: labelled.to_owned(),
            actual: actual.to_owned(),
        });
    }
    if held(actual) {
        return Err(WelcomeRefusal::AlreadyHeld(actual.to_owned()));
    }
    Ok(())
}

/// The Welcome's members `(device, signature key)` in tree order: every one but `me` must be trusted
/// (`trusted(device, signature key)`); the first that is not is the refusal.
pub fn check_members<'a>(
    members: impl IntoIterator<Item = (&'a DeviceIdentity, &'a [u8])>,
    me: &DeviceIdentity,
    trusted: impl Fn(&DeviceIdentity, &[u8]) -> bool,
) -> Result<(), WelcomeRefusal> {
    match members
        .into_iter()
        .find(|(identity, key)| *identity != me && !trusted(identity, key))
    {
        Some((identity, _)) => Err(WelcomeRefusal::UntrustedMember {
            member: identity.to_string(),
        }),
        None => Ok(()),
    }
}

/// Every check of a Welcome this device could decrypt, from what it names, in order: its group id
/// ([`check_group`]), then its members ([`check_members`]). [`WelcomeJoin`] makes the same two checks in two
/// steps (the members are known only once the Welcome is staged, and the driver may fetch listings between).
pub fn check_opened<'a>(
    labelled: &str,
    actual: &str,
    held: impl Fn(&str) -> bool,
    members: impl IntoIterator<Item = (&'a DeviceIdentity, &'a [u8])>,
    me: &DeviceIdentity,
    trusted: impl Fn(&DeviceIdentity, &[u8]) -> bool,
) -> Result<(), WelcomeRefusal> {
    check_group(labelled, actual, held)?;
    check_members(members, me, trusted)
}

/// A decrypted Welcome, not joined yet.
pub struct WelcomeJoin {
    staged: StagedWelcome,
    group_id: String,
    members: Vec<(DeviceIdentity, Vec<u8>)>,
    /// The key package openmls consumed, to put back if the join is refused.
    consumed: Option<(KeyPackageRef, KeyPackageBundle)>,
}

impl std::fmt::Debug for WelcomeJoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WelcomeJoin")
            .field("group_id", &self.group_id)
            .field("members", &self.members.len())
            .finish_non_exhaustive()
    }
}

/// The device a credential names, if it is one of ours.
pub fn identity_of(credential: &Credential) -> Option<DeviceIdentity> {
    let basic = BasicCredential::try_from(credential.clone()).ok()?;
    DeviceIdentity::parse(basic.identity()).ok()
}

fn put_back<P: OpenMlsProvider>(
    provider: &P,
    consumed: &Option<(KeyPackageRef, KeyPackageBundle)>,
) {
    if let Some((reference, bundle)) = consumed {
        // Best effort: if even this write fails, the package is lost, as it would be without this step.
        let _ = provider.storage().write_key_package(reference, bundle);
    }
}

impl WelcomeJoin {
    /// Decrypts `welcome` (the raw MLS message) that the server labelled as group `labelled` (hex group id);
    /// `held(group id)` says whether this device holds a group.
    pub fn open<P: OpenMlsProvider>(
        provider: &P,
        config: &MlsGroupJoinConfig,
        welcome: &[u8],
        labelled: &str,
        held: impl Fn(&str) -> bool,
    ) -> Result<WelcomeJoin, WelcomeRefusal> {
        let message = MlsMessageIn::tls_deserialize_exact_bytes(welcome)
            .map_err(|e| WelcomeRefusal::Unreadable(format!("malformed: {e}")))?;
        let MlsMessageBodyIn::Welcome(welcome) = message.extract() else {
            return Err(WelcomeRefusal::Unreadable("not a Welcome".into()));
        };
        let consumed = welcome.secrets().iter().find_map(|secret| {
            let reference = secret.new_member();
            let bundle: KeyPackageBundle = provider.storage().key_package(&reference).ok()??;
            (!bundle.key_package().last_resort()).then_some((reference, bundle))
        });
        let refused = |refusal: WelcomeRefusal| {
            put_back(provider, &consumed);
            refusal
        };
        let processed = ProcessedWelcome::new_from_welcome(provider, config, welcome)
            .map_err(|e| refused(WelcomeRefusal::Unreadable(format!("{e:?}"))))?;
        let actual = hex::encode(processed.unverified_group_info().group_id().as_slice());
        check_group(labelled, &actual, held).map_err(refused)?;
        let staged = processed
            .into_staged_welcome(provider, None)
            .map_err(|e| refused(WelcomeRefusal::Invalid(format!("{e:?}"))))?;
        let members = staged
            .members()
            .filter_map(|member| {
                Some((
                    identity_of(&member.credential)?,
                    member.signature_key.clone(),
                ))
            })
            .collect();
        Ok(WelcomeJoin {
            staged,
            group_id: actual,
            members,
            consumed,
        })
    }

    /// The group's id (hex), as the Welcome names it and the server labelled it.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The users other than this device whose devices must be checked before joining.
    pub fn other_users(&self, me: &DeviceIdentity) -> BTreeSet<String> {
        self.members
            .iter()
            .filter(|(identity, _)| identity != me)
            .map(|(identity, _)| identity.user_id.clone())
            .collect()
    }

    /// Joins if `trusted(device, signature key)` holds for every member but this device; else refuses and
    /// puts the key package back.
    pub fn finish<P: OpenMlsProvider>(
        self,
        provider: &P,
        me: &DeviceIdentity,
        trusted: impl Fn(&DeviceIdentity, &[u8]) -> bool,
    ) -> Result<MlsGroup, WelcomeRefusal> {
        let members = self
            .members
            .iter()
            .map(|(identity, key)| (identity, key.as_slice()));
        if let Err(refusal) = check_members(members, me, trusted) {
            put_back(provider, &self.consumed);
            return Err(refusal);
        }
        let consumed = self.consumed;
        self.staged.into_group(provider).map_err(|e| {
            put_back(provider, &consumed);
            WelcomeRefusal::Invalid(format!("{e:?}"))
        })
    }

    /// Gives up on the Welcome (the driver could not check its members): puts the key package back.
    pub fn abandon<P: OpenMlsProvider>(self, provider: &P) {
        put_back(provider, &self.consumed);
    }
}
