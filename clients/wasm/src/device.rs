//! [`MlsDevice`]: this device's MLS state and its group operations, driven from JavaScript. The driver fetches
//! and posts; every decision (what a row means, whether a commit or a Welcome may be taken, what to commit) is
//! the core's. After every call that changes the state the driver saves [`MlsDevice::save`] (encrypted) before
//! it posts anything the call produced.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_client_core::content::Content;
use e2ee_client_core::group::{
    self, CommitCheck, GroupMessage, GroupMeta, Intent, MessageStatus, RowOutcome, StagedIntent,
    claimed_key_package, join_config, member_devices,
};
use e2ee_client_core::state::DeviceState;
use e2ee_client_core::welcome::{WelcomeJoin, identity_of};
use e2ee_mls::DeviceIdentity;
use e2ee_protocol::GroupLogEntryView;
use openmls::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::trust::{Trust, WelcomeOutcome, identity};
use crate::{ErrorCode, Result, fail, json, millis, parse};

/// This device's MLS state, unlocked, and the operations in progress.
#[wasm_bindgen]
pub struct MlsDevice {
    state: DeviceState,
    /// Commits of other members read and staged, waiting for [`MlsDevice::finish_commit`], by group.
    reading: BTreeMap<String, ReadCommit>,
    /// Groups where this device read a commit it could not process (it may have to rejoin).
    stuck: BTreeSet<String>,
    /// The intent of each commit staged and not answered yet (an accepted update resets the update schedule).
    intents: BTreeMap<String, Intent>,
    /// A Welcome decrypted by [`MlsDevice::open_welcome`], waiting for [`MlsDevice::finish_welcome`].
    welcome: Option<OpenedWelcome>,
}

struct ReadCommit {
    group: MlsGroup,
    check: CommitCheck,
    row: GroupLogEntryView,
    epoch_before: u64,
}

struct OpenedWelcome {
    join: WelcomeJoin,
    stored_at: i64,
}

/// A key package the server handed out (`POST /api/key-packages/claim/{userId}`), for the device it names.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claimed {
    user_id: String,
    device_id: String,
    /// Base64 `MLSMessage`, as claimed.
    key_package: String,
}

/// A device, as JSON.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceRef {
    user_id: String,
    device_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature_key: Option<String>,
}

/// A commit to post (`POST /api/groups/{groupId}/commits`): base64, as the request's fields.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CommitBundle {
    commit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    welcome: Option<String>,
    group_info: String,
}

impl From<StagedIntent> for CommitBundle {
    fn from(staged: StagedIntent) -> Self {
        CommitBundle {
            commit: STANDARD.encode(&staged.commit),
            welcome: staged.welcome.map(|bytes| STANDARD.encode(bytes)),
            group_info: STANDARD.encode(&staged.group_info),
        }
    }
}

/// What reading one log row did.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RowRead {
    /// `false`: a commit waits for the trust decision on the devices of `users` (fetch their key and device
    /// listings into the `Trust`, then call `finishCommit`).
    done: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    users: Vec<String>,
    /// A message to show (also kept in the group's history).
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<GroupMessage>,
}

/// What a decrypted Welcome asks before it can be joined.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WelcomeOpened {
    group_id: String,
    /// The users (other than this device) whose device listings decide.
    users: Vec<String>,
}

fn mls(context: &str, error: impl std::fmt::Debug) -> crate::Error {
    crate::Error(ErrorCode::Mls, format!("{context}: {error:?}"))
}

fn bytes_of(what: &str, base64: &str) -> Result<Vec<u8>> {
    STANDARD
        .decode(base64)
        .or_else(|_| fail(ErrorCode::InvalidInput, format!("{what} is not base64")))
}

fn message_base64(message: &MlsMessageOut) -> Result<String> {
    Ok(STANDARD.encode(
        message
            .to_bytes()
            .map_err(|e| mls("cannot encode a message", e))?,
    ))
}

impl MlsDevice {
    fn with_state(state: DeviceState) -> MlsDevice {
        MlsDevice {
            state,
            reading: BTreeMap::new(),
            stuck: BTreeSet::new(),
            intents: BTreeMap::new(),
            welcome: None,
        }
    }

    fn stage(&mut self, group_id: &str, intent: Intent) -> Result<Option<String>> {
        let mut group = self.state.group(group_id)?;
        let (provider, signer, meta) = self.state.parts(group_id)?;
        let staged = group::stage_intent(provider, signer, &mut group, meta, &intent)?;
        let Some(staged) = staged else {
            return Ok(None);
        };
        self.intents.insert(group_id.to_owned(), intent);
        Ok(Some(json(&CommitBundle::from(staged))?))
    }

    /// The row is done: the read position moves past it, and its message (if any) is kept.
    fn finish_row(
        &mut self,
        group_id: &str,
        row: &GroupLogEntryView,
        message: Option<GroupMessage>,
        stuck: bool,
    ) -> Result<String> {
        if stuck {
            self.stuck.insert(group_id.to_owned());
        }
        let me = self.state.meta.user_id.clone();
        if let Some(meta) = self.state.meta.groups.get_mut(group_id) {
            meta.after = Some(row.seq);
            if let Some(message) = &message {
                if message.status == MessageStatus::Left && message.sender_user_id != me {
                    meta.leave_requests.insert(message.sender_user_id.clone());
                }
                meta.record(message.clone());
            }
        }
        json(&RowRead {
            done: true,
            users: Vec::new(),
            message,
        })
    }

    fn finish_read_commit(
        &mut self,
        group_id: &str,
        read: ReadCommit,
        trust: &Trust,
    ) -> Result<String> {
        let ReadCommit {
            mut group,
            check,
            row,
            epoch_before,
        } = read;
        let untrusted = check
            .leaves()
            .iter()
            .find(|(identity, key)| !trust.trusts(identity, key))
            .map(|(identity, _)| identity.clone());
        let message = match untrusted {
            Some(identity) => Some(check.refuse(&identity)),
            None => {
                check.merge(self.state.provider(), &mut group)?;
                None
            }
        };
        let failed = message.is_some();
        let stuck = group::is_stuck(&row, epoch_before, group.epoch().as_u64(), failed);
        self.finish_row(group_id, &row, message, stuck)
    }
}

#[wasm_bindgen]
impl MlsDevice {
    /// A new device `userId/deviceId` with a fresh Ed25519 signature key and no groups.
    pub fn create(user_id: &str, device_id: &str) -> Result<MlsDevice> {
        Ok(MlsDevice::with_state(DeviceState::create(
            user_id, device_id,
        )?))
    }

    /// The device a blob of [`MlsDevice::save`] holds (the same blob format as the Rust SDK's, docs/mls.md).
    /// (The copy of the blob in WebAssembly memory is zeroed once read.)
    pub fn load(state: Vec<u8>) -> Result<MlsDevice> {
        let state = zeroize::Zeroizing::new(state);
        Ok(MlsDevice::with_state(DeviceState::from_bytes(&state)?))
    }

    /// The whole state as one blob, to encrypt and save: it holds the device's private keys and group secrets.
    /// (Copied straight into a JavaScript array; the copy in WebAssembly memory is zeroed.)
    pub fn save(&self) -> Result<js_sys::Uint8Array> {
        let bytes = self.state.to_bytes()?;
        Ok(js_sys::Uint8Array::from(bytes.as_slice()))
    }

    #[wasm_bindgen(getter, js_name = userId)]
    pub fn user_id(&self) -> String {
        self.state.meta.user_id.clone()
    }

    #[wasm_bindgen(getter, js_name = deviceId)]
    pub fn device_id(&self) -> String {
        self.state.meta.device_id.clone()
    }

    /// Base64 of the device's Ed25519 signature public key (what its device certificate covers).
    #[wasm_bindgen(getter, js_name = signatureKey)]
    pub fn signature_key(&self) -> String {
        self.state.meta.signature_key.clone()
    }

    /// The proof for `POST /api/devices/session` at `createdAtMs`: base64 of the device's Ed25519 signature
    /// over the session statement (the body's `signature`).
    #[wasm_bindgen(js_name = sessionProof)]
    pub fn session_proof(&self, created_at_ms: f64) -> Result<String> {
        let created_at = u64::try_from(millis(created_at_ms)?)
            .or_else(|_| fail(ErrorCode::InvalidInput, "a negative time"))?;
        Ok(STANDARD.encode(self.state.session_proof(created_at)?))
    }

    /// The statement the user's identity key signs (RSA-PSS, in the driver: the private key never leaves
    /// WebCrypto) to certify this device at `issuedAtMs` (docs/mls.md, "Device certificates").
    #[wasm_bindgen(js_name = certificateInput)]
    pub fn certificate_input(&self, issuer_key_id: &str, issued_at_ms: f64) -> Result<Vec<u8>> {
        let issuer_key_id = e2ee_crypto::KeyId::parse(issuer_key_id).or_else(|_| {
            fail(
                ErrorCode::InvalidInput,
                "the issuer key id is not 64 hex digits",
            )
        })?;
        let created_at = u64::try_from(millis(issued_at_ms)?)
            .or_else(|_| fail(ErrorCode::InvalidInput, "a negative time"))?;
        let signature_key = STANDARD
            .decode(&self.state.meta.signature_key)
            .or_else(|_| fail(ErrorCode::Damaged, "the signature key"))?;
        Ok(e2ee_crypto::DeviceStatement {
            user_id: &self.state.meta.user_id,
            device_id: &self.state.meta.device_id,
            signature_key: &signature_key,
            issuer_key_id,
            created_at,
        }
        .signing_input())
    }

    /// `count` key packages to upload (base64 `MLSMessage`s), one-time or last-resort.
    #[wasm_bindgen(js_name = keyPackages)]
    pub fn key_packages(&self, count: usize, last_resort: bool) -> Result<Vec<String>> {
        if count == 0 || count > 100 {
            return fail(ErrorCode::InvalidInput, "between 1 and 100 key packages");
        }
        Ok(self.state.key_packages(count, last_resort)?)
    }

    /// The groups this device holds (hex ids).
    #[wasm_bindgen(js_name = groupIds)]
    pub fn group_ids(&self) -> Vec<String> {
        self.state.meta.groups.keys().cloned().collect()
    }

    /// What this device tracks of the group (JSON `GroupMeta`: name, read position, kept messages, …).
    #[wasm_bindgen(js_name = groupMeta)]
    pub fn group_meta(&self, group_id: &str) -> Result<String> {
        let Some(meta) = self.state.meta.groups.get(group_id) else {
            return fail(
                ErrorCode::NotInGroup,
                format!("this device is not in group {group_id}"),
            );
        };
        json(meta)
    }

    /// The group's epoch as this device holds it.
    pub fn epoch(&self, group_id: &str) -> Result<f64> {
        // Epochs stay far below 2^53.
        #[allow(clippy::cast_precision_loss)]
        Ok(self.state.group(group_id)?.epoch().as_u64() as f64)
    }

    /// The member devices (JSON `[{userId, deviceId, signatureKey}]`, tree order).
    pub fn members(&self, group_id: &str) -> Result<String> {
        let group = self.state.group(group_id)?;
        let members: Vec<DeviceRef> = group
            .members()
            .filter_map(|member| {
                let identity = identity_of(&member.credential)?;
                Some(DeviceRef {
                    user_id: identity.user_id,
                    device_id: identity.device_id,
                    signature_key: Some(STANDARD.encode(&member.signature_key)),
                })
            })
            .collect();
        json(&members)
    }

    /// A new group of this device alone (`name` is kept on this device only): JSON `{groupId, groupInfo,
    /// ratchetTree}` (base64) for `POST /api/groups`.
    #[wasm_bindgen(js_name = createGroup)]
    pub fn create_group(&mut self, name: Option<String>, now_ms: f64) -> Result<String> {
        let created = self.state.create_group(name, millis(now_ms)?)?;
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Created {
            group_id: String,
            group_info: String,
            ratchet_tree: String,
        }
        json(&Created {
            group_id: created.group_id,
            group_info: STANDARD.encode(&created.group_info),
            ratchet_tree: STANDARD.encode(&created.ratchet_tree),
        })
    }

    /// Stages a commit adding the devices of claimed key packages (JSON `[{userId, deviceId, keyPackage}]`);
    /// each must validate, name its device, and be of a device `trust` trusts, else nothing is staged
    /// (`untrusted`). JSON `{commit, welcome, groupInfo}` to post, or `undefined` if every device is in already.
    #[wasm_bindgen(js_name = stageAdd)]
    pub fn stage_add(
        &mut self,
        group_id: &str,
        claimed: &str,
        trust: &Trust,
    ) -> Result<Option<String>> {
        let claimed: Vec<Claimed> = parse("claimed key packages", claimed)?;
        let mut packages = Vec::new();
        for offered in &claimed {
            let device = identity(&offered.user_id, &offered.device_id)?;
            let bytes = bytes_of("a key package", &offered.key_package)?;
            let package =
                claimed_key_package(self.state.provider(), &device, &bytes).or_else(|why| {
                    fail(
                        ErrorCode::Untrusted,
                        format!("the key package offered for {device}: {why}"),
                    )
                })?;
            if !trust.trusts(&device, package.leaf_node().signature_key().as_slice()) {
                return fail(
                    ErrorCode::Untrusted,
                    format!(
                        "the server offered a key package for {device}, a device never certified with a key this \
                         device trusts; nothing was changed"
                    ),
                );
            }
            packages.push(package);
        }
        self.stage(group_id, Intent::Add(packages))
    }

    /// Stages a commit removing these devices (JSON `[{userId, deviceId}]`); `undefined` if none is a member.
    #[wasm_bindgen(js_name = stageRemove)]
    pub fn stage_remove(&mut self, group_id: &str, devices: &str) -> Result<Option<String>> {
        let devices: Vec<DeviceRef> = parse("devices", devices)?;
        let devices = devices
            .iter()
            .map(|d| identity(&d.user_id, &d.device_id))
            .collect::<Result<Vec<_>>>()?;
        self.stage(group_id, Intent::Remove(devices))
    }

    /// Stages a commit removing every device of these users.
    #[wasm_bindgen(js_name = stageRemoveUsers)]
    pub fn stage_remove_users(
        &mut self,
        group_id: &str,
        user_ids: Vec<String>,
    ) -> Result<Option<String>> {
        let users: BTreeSet<String> = user_ids.into_iter().collect();
        let devices = group::devices_of(&self.state.group(group_id)?, &users);
        self.stage(group_id, Intent::Remove(devices))
    }

    /// Stages a commit updating this device's leaf (post-compromise security).
    #[wasm_bindgen(js_name = stageUpdate)]
    pub fn stage_update(&mut self, group_id: &str) -> Result<Option<String>> {
        self.stage(group_id, Intent::Update)
    }

    /// The server stored the staged commit: it is merged.
    #[wasm_bindgen(js_name = commitAccepted)]
    pub fn commit_accepted(&mut self, group_id: &str, now_ms: f64) -> Result<()> {
        let now = millis(now_ms)?;
        // Without the intent (not expected) the commit is merged all the same; only an update's schedule waits.
        let intent = self
            .intents
            .remove(group_id)
            .unwrap_or(Intent::Remove(Vec::new()));
        let mut group = self.state.group(group_id)?;
        let (provider, _, meta) = self.state.parts(group_id)?;
        group::commit_accepted(provider, &mut group, meta, &intent, now)?;
        Ok(())
    }

    /// Discards this device's pending commit (the server refused it, e.g. another commit took the epoch).
    #[wasm_bindgen(js_name = dropPendingCommit)]
    pub fn drop_pending_commit(&mut self, group_id: &str) -> Result<()> {
        self.intents.remove(group_id);
        let mut group = self.state.group(group_id)?;
        let (provider, _, meta) = self.state.parts(group_id)?;
        group::drop_pending(provider, &mut group, meta)?;
        Ok(())
    }

    /// Encrypts a text message in the group's current epoch: base64 `MLSMessage` for
    /// `POST /api/groups/{groupId}/messages`. Save before posting (the sending ratchet moved).
    #[wasm_bindgen(js_name = encryptText)]
    pub fn encrypt_text(&mut self, group_id: &str, text: &str) -> Result<String> {
        self.encrypt(
            group_id,
            &Content::Text {
                text: text.to_owned(),
            },
        )
    }

    /// Encrypts a `leave` message: the other members commit this user's removal.
    #[wasm_bindgen(js_name = encryptLeave)]
    pub fn encrypt_leave(&mut self, group_id: &str) -> Result<String> {
        self.encrypt(group_id, &Content::Leave)
    }

    /// Keeps a message this device sent and the server stored (log position `seq`, `epoch`).
    #[wasm_bindgen(js_name = recordSent)]
    pub fn record_sent(
        &mut self,
        group_id: &str,
        seq: f64,
        epoch: f64,
        text: &str,
        trust: &Trust,
    ) -> Result<()> {
        let (seq, epoch) = (millis(seq)?, millis(epoch)?);
        let (Ok(seq), Ok(epoch)) = (u64::try_from(seq), u64::try_from(epoch)) else {
            return fail(ErrorCode::InvalidInput, "a negative seq or epoch");
        };
        let me = self.state.identity();
        let message = GroupMessage {
            seq,
            sender: trust.name_of(&me.user_id),
            sender_user_id: me.user_id,
            sender_device: me.device_id,
            text: Some(text.to_owned()),
            epoch,
            status: MessageStatus::Ok,
            reason: None,
        };
        self.state.record(group_id, message);
        Ok(())
    }

    /// Reads one row of the group's log (JSON, as `GET /api/groups/{groupId}/log` lists it), in order, after
    /// this device's read position. JSON `{done, message?}`; `done: false` with `users`: a commit waits for the
    /// trust decision on those users' devices (fetch their listings into `trust`, then `finishCommit`).
    #[wasm_bindgen(js_name = readRow)]
    pub fn read_row(&mut self, group_id: &str, row: &str, trust: &Trust) -> Result<String> {
        if self.reading.contains_key(group_id) {
            return fail(
                ErrorCode::State,
                "a commit of this group waits for finishCommit",
            );
        }
        let row: GroupLogEntryView = parse("log row", row)?;
        let mut group = self.state.group(group_id)?;
        let epoch_before = group.epoch().as_u64();
        let (provider, _, meta) = self.state.parts(group_id)?;
        if group::settle_pending_row(provider, &mut group, meta, &row)? {
            self.intents.remove(group_id);
            return self.finish_row(group_id, &row, None, false);
        }
        let me = self.state.identity();
        let sender = trust.name_of(&row.sender_user_id);
        match group::read_row(self.state.provider(), &mut group, &me, &row, &sender) {
            RowOutcome::Skipped => Ok(self.finish_row(group_id, &row, None, false)?),
            RowOutcome::Message(message) => {
                let stuck = group::is_stuck(
                    &row,
                    epoch_before,
                    group.epoch().as_u64(),
                    message.status == MessageStatus::Failed,
                );
                Ok(self.finish_row(group_id, &row, Some(message), stuck)?)
            }
            RowOutcome::Commit(check) => {
                let users: BTreeSet<String> = check
                    .leaves()
                    .iter()
                    .filter(|(identity, key)| !trust.trusts(identity, key))
                    .map(|(identity, _)| identity.user_id.clone())
                    .collect();
                let read = ReadCommit {
                    group,
                    check,
                    row,
                    epoch_before,
                };
                if users.is_empty() {
                    return self.finish_read_commit(group_id, read, trust);
                }
                self.reading.insert(group_id.to_owned(), read);
                Ok(json(&RowRead {
                    done: false,
                    users: users.into_iter().collect(),
                    message: None,
                })?)
            }
        }
    }

    /// Decides the commit [`MlsDevice::read_row`] left waiting: merged if every device it brings in is trusted
    /// now, else refused (the group unchanged, the row reported as a failed message). JSON `{done: true, message?}`.
    #[wasm_bindgen(js_name = finishCommit)]
    pub fn finish_commit(&mut self, group_id: &str, trust: &Trust) -> Result<String> {
        let Some(read) = self.reading.remove(group_id) else {
            return fail(ErrorCode::State, "no commit of this group waits");
        };
        self.finish_read_commit(group_id, read, trust)
    }

    /// After a page of the log: `logComplete` (the page had no `nextAfter`) and a pending commit no row settled
    /// means it was never stored (dropped). Returns whether this device must rejoin: it could not process an
    /// accepted commit (then compare its epoch with the server's, `GET /api/groups/{groupId}`).
    #[wasm_bindgen(js_name = endOfPage)]
    pub fn end_of_page(&mut self, group_id: &str, log_complete: bool) -> Result<bool> {
        let pending = self
            .state
            .meta
            .groups
            .get(group_id)
            .and_then(|meta| meta.pending_commit.as_ref())
            .map(|pending| pending.at_end_of_log(log_complete));
        if pending == Some(e2ee_client_core::commits::Resolution::Drop) {
            self.drop_pending_commit(group_id)?;
        }
        Ok(log_complete && self.stuck.remove(group_id))
    }

    /// Decrypts a Welcome (`GET /api/welcomes`: base64 `welcome`, labelled `groupId`, stored at `storedAt`).
    /// JSON `{groupId, users}`: fetch those users' listings into `trust`, then `finishWelcome`. A Welcome that
    /// cannot be taken at all (unreadable, another group than labelled, a group this device holds) answers the
    /// refusal at once: JSON `{joined: false, refused, final, reason}`.
    #[wasm_bindgen(js_name = openWelcome)]
    pub fn open_welcome(
        &mut self,
        welcome: &str,
        labelled_group_id: &str,
        stored_at_ms: f64,
        now_ms: f64,
    ) -> Result<String> {
        let stored_at = millis(stored_at_ms)?;
        let now = millis(now_ms)?;
        if let Some(previous) = self.welcome.take() {
            previous.join.abandon(self.state.provider());
        }
        let bytes = bytes_of("the Welcome", welcome)?;
        let held = |group_id: &str| self.state.meta.groups.contains_key(group_id);
        match WelcomeJoin::open(
            self.state.provider(),
            &join_config(),
            &bytes,
            labelled_group_id,
            held,
        ) {
            Err(refusal) => Ok(json(&WelcomeOutcome::of(&Err(refusal), stored_at, now))?),
            Ok(join) => {
                let opened = WelcomeOpened {
                    group_id: join.group_id().to_owned(),
                    users: join
                        .other_users(&self.state.identity())
                        .into_iter()
                        .collect(),
                };
                self.welcome = Some(OpenedWelcome { join, stored_at });
                Ok(json(&opened)?)
            }
        }
    }

    /// Joins the Welcome [`MlsDevice::open_welcome`] decrypted if every member but this device is trusted; else
    /// refuses (its key package is kept). JSON `{joined}` or `{joined: false, refused, final, member?, reason}`:
    /// a final refusal is acknowledged (`DELETE /api/welcomes/{id}`), another is tried again on a later sync.
    #[wasm_bindgen(js_name = finishWelcome)]
    pub fn finish_welcome(&mut self, trust: &Trust, now_ms: f64) -> Result<String> {
        let now = millis(now_ms)?;
        let Some(OpenedWelcome { join, stored_at }) = self.welcome.take() else {
            return fail(ErrorCode::State, "no Welcome was opened");
        };
        let group_id = join.group_id().to_owned();
        let me = self.state.identity();
        let joined = join.finish(self.state.provider(), &me, |identity, key| {
            trust.trusts(identity, key)
        });
        let decision = joined.map(|_group| {
            self.state.meta.groups.insert(
                group_id,
                GroupMeta {
                    updated_at: now,
                    ..GroupMeta::default()
                },
            );
        });
        json(&WelcomeOutcome::of(&decision, stored_at, now))
    }

    /// Deletes the group's secrets and what this device kept of it.
    pub fn forget(&mut self, group_id: &str) -> Result<()> {
        self.reading.remove(group_id);
        self.intents.remove(group_id);
        self.stuck.remove(group_id);
        Ok(self.state.forget_group(group_id)?)
    }

    /// The devices of this group's members the core would show as its members (JSON `[{userId, deviceId}]`).
    #[wasm_bindgen(js_name = memberDevices)]
    pub fn member_devices(&self, group_id: &str) -> Result<String> {
        let group = self.state.group(group_id)?;
        let devices: Vec<DeviceRef> = member_devices::<Vec<DeviceIdentity>>(&group)
            .into_iter()
            .map(|d| DeviceRef {
                user_id: d.user_id,
                device_id: d.device_id,
                signature_key: None,
            })
            .collect();
        json(&devices)
    }
}

impl MlsDevice {
    fn encrypt(&mut self, group_id: &str, content: &Content) -> Result<String> {
        let mut group = self.state.group(group_id)?;
        let bytes = content.encode()?;
        let (provider, signer, meta) = self.state.parts(group_id)?;
        let message = group
            .create_message(provider, signer, &bytes)
            .map_err(|e| mls("cannot encrypt the message", e))?;
        meta.sent_since_update += 1;
        message_base64(&message)
    }
}
