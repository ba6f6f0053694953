// The group operations (clients/sdk/src/device/groups/mod.rs): create, add, remove, members, list, send, read and
// leave. Every device a group takes in must be certified (commit.ts, join.ts, log.ts check it); commits go through
// commitIntent, which retries epoch conflicts, so a caller sees one success.

import { type ClientState, createApplicationMessage, createGroup as mlsCreateGroup, zeroOutUint8Array } from "ts-mls";
import { createGroupInfo } from "ts-mls/createCommit.js";
import { encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { ApiError, NetworkError } from "../api.js";
import { isWellFormed, toBase64, toHex } from "../bytes.js";
import { InputError } from "../errors.js";
import { type GroupLogEntry } from "./api.js";
import { addUserDevices, commitIntent, devicesOf } from "./commit.js";
import { type Content, encodeContent } from "./content.js";
import { type DeviceContext, checkGroupId, checkUserIds, loadGroup, usernameOf } from "./context.js";
import { MlsError, describe } from "./errors.js";
import { catchUp, settle } from "./log.js";
import { type GroupMessage, type GroupMeta, recordMessage } from "./store.js";
import { CLIENT_CONFIG, encodeMessage, epochOf, leaves, newKeyPackage, sameDevice, suite } from "./suite.js";

/** A device updates its leaf before sending once it sent this many messages or its last update is this old
 * (post-compromise security: a stolen leaf key stops working). */
export const UPDATE_AFTER_MESSAGES = 50;
export const UPDATE_AFTER_MS = 24 * 60 * 60 * 1000;
/** Repeats of a message post that failed in transit (same client message id: the server stores it once). */
const POST_RETRIES = 2;

export interface MemberView {
  userId: string;
  username?: string;
  deviceId: string;
}
export interface GroupReport {
  groupId: string;
  name?: string;
  epoch: number;
  members: MemberView[];
}
export interface GroupReadReport {
  groupId: string;
  /** The epoch after reading (the last one seen when `removed`). */
  epoch: number;
  messages: GroupMessage[];
  /** This device is no member any more (see CatchUp.removed); leave() forgets the group here. */
  removed: boolean;
}
export interface LeaveReport {
  groupId: string;
  /** This user's other devices, removed by this device's commit. */
  removedDevices: string[];
  /** Whether other users remain: one of their devices commits this device's removal on its next read. */
  removalPending: boolean;
}

function newMeta(name: string | undefined, after: number | null): GroupMeta {
  const meta: GroupMeta = { after, sentSinceUpdate: 0, updatedAt: Date.now(), messages: [], leaveRequests: [] };
  if (name !== undefined) meta.name = name;
  return meta;
}

async function report(ctx: DeviceContext, groupId: string, state: ClientState, meta: GroupMeta): Promise<GroupReport> {
  const members: MemberView[] = [];
  for (const l of leaves(state)) {
    const username = await usernameOf(ctx, l.userId);
    members.push(username === undefined ? { userId: l.userId, deviceId: l.deviceId } : { userId: l.userId, username, deviceId: l.deviceId });
  }
  const r: GroupReport = { groupId, epoch: epochOf(state), members };
  if (meta.name !== undefined) r.name = meta.name;
  return r;
}

async function currentReport(ctx: DeviceContext, groupId: string): Promise<GroupReport> {
  const { state, meta } = await loadGroup(ctx, groupId);
  return report(ctx, groupId, state, meta);
}

/** A new group of this device, then every other certified device of this user and of `memberIds` added in one commit. */
export async function createGroup(ctx: DeviceContext, memberIds: readonly string[], name?: string): Promise<GroupReport> {
  checkUserIds(memberIds);
  if (name !== undefined && (typeof name !== "string" || !isWellFormed(name))) throw new InputError("invalid_input", "the name must be a well-formed string");
  const cs = await suite();
  // The creator's leaf comes from a key package of its own that is never uploaded.
  const kp = await newKeyPackage(ctx.device.keys, ctx.me, false);
  const groupIdBytes = crypto.getRandomValues(new Uint8Array(16));
  const groupId = toHex(groupIdBytes);
  let groupInfo: string;
  let state: ClientState;
  try {
    state = await mlsCreateGroup(groupIdBytes, kp.publicPackage, kp.privatePackage, [], cs, CLIENT_CONFIG);
    const gi = await createGroupInfo(state.groupContext, state.confirmationTag, state, [], cs);
    groupInfo = encodeMessage({ wireformat: "mls_group_info", version: "mls10", groupInfo: gi });
  } catch (e) {
    throw new MlsError("mls_failure", `cannot create the group (${describe(e)})`);
  }
  await ctx.store.saveGroup(groupId, state, newMeta(name, 0)); // the creation row (seq 0) is not read again
  try {
    await ctx.api.createGroup(groupInfo, toBase64(encodeRatchetTree(state.ratchetTree)));
  } catch (e) {
    await ctx.store.deleteGroup(groupId);
    throw e;
  }
  const users = [ctx.me.userId, ...new Set(memberIds.filter((u) => u !== ctx.me.userId))];
  await addUserDevices(ctx, groupId, users);
  return currentReport(ctx, groupId);
}

/** Every certified device of each user that is not a member yet. */
export async function addMembers(ctx: DeviceContext, groupId: string, userIds: readonly string[]): Promise<GroupReport> {
  checkUserIds(userIds);
  await addUserDevices(ctx, groupId, [...new Set(userIds)]);
  return currentReport(ctx, groupId);
}

/** Every device of each user leaves the group (one commit). */
export async function removeMembers(ctx: DeviceContext, groupId: string, userIds: readonly string[]): Promise<GroupReport> {
  checkUserIds(userIds);
  await catchUp(ctx, groupId);
  const devices = devicesOf((await loadGroup(ctx, groupId)).state, new Set(userIds));
  if (devices.length === 0) throw new InputError("invalid_input", "none of these users is a member of the group");
  await commitIntent(ctx, groupId, { kind: "remove", devices });
  return currentReport(ctx, groupId);
}

/** The group's member devices after reading its log. */
export async function members(ctx: DeviceContext, groupId: string): Promise<GroupReport> {
  await settle(ctx, groupId);
  return currentReport(ctx, groupId);
}

/** The groups this device is in, as last saved (no network). */
export async function listGroups(ctx: DeviceContext): Promise<GroupReport[]> {
  const out: GroupReport[] = [];
  for (const id of await ctx.store.groupIds()) out.push(await currentReport(ctx, id));
  return out;
}

/** The messages this device keeps for the group (read and sent, oldest first), as last saved: no network. */
export async function keptMessages(ctx: DeviceContext, groupId: string): Promise<GroupMessage[]> {
  return (await loadGroup(ctx, groupId)).meta.messages;
}

/** Processes the group's new rows; returns the new messages (with `all`, every message kept for the group). */
export async function read(ctx: DeviceContext, groupId: string, all = false): Promise<GroupReadReport> {
  const before = await loadGroup(ctx, groupId);
  const r = await settle(ctx, groupId);
  // Gone when a processed commit removed this device: then what it kept before plus what it read now.
  const now = await ctx.store.loadGroup(groupId);
  const messages = !all ? r.messages : now ? now.meta.messages : [...before.meta.messages, ...r.messages];
  return { groupId, epoch: epochOf((now ?? before).state), messages, removed: r.removed };
}

/** A text message of the current epoch (after a leaf update when one is due). */
export async function send(ctx: DeviceContext, groupId: string, text: string): Promise<GroupLogEntry> {
  if (typeof text !== "string" || !isWellFormed(text)) throw new InputError("invalid_input", "the text must be a well-formed string");
  const r = await settle(ctx, groupId);
  if (r.removed) throw new MlsError("not_in_group", `this device was removed from group ${groupId}`);
  const { meta } = await loadGroup(ctx, groupId);
  if (meta.sentSinceUpdate >= UPDATE_AFTER_MESSAGES || Date.now() - meta.updatedAt > UPDATE_AFTER_MS) {
    await commitIntent(ctx, groupId, { kind: "update" });
  }
  const entry = await postContent(ctx, groupId, { type: "text", text });
  const after = await loadGroup(ctx, groupId);
  recordMessage(after.meta, {
    seq: entry.seq,
    sender: (await usernameOf(ctx, ctx.me.userId)) ?? ctx.me.userId,
    senderUserId: ctx.me.userId,
    senderDevice: ctx.me.deviceId,
    text,
    epoch: entry.epoch,
    status: "ok",
  });
  await ctx.store.saveGroup(groupId, after.state, after.meta);
  return entry;
}

/** Encrypts `content` in the current epoch and posts it; the advanced ratchet is saved before the message leaves,
 * so a key is never used twice. A transient failure is repeated under the same client message id. */
async function postContent(ctx: DeviceContext, groupId: string, content: Content): Promise<GroupLogEntry> {
  const { state, meta } = await loadGroup(ctx, groupId);
  let out;
  try {
    out = await createApplicationMessage(state, encodeContent(content), await suite());
  } catch (e) {
    throw new MlsError("mls_failure", `cannot encrypt the message (${describe(e)})`);
  }
  meta.sentSinceUpdate += 1;
  await ctx.store.saveGroup(groupId, out.newState, meta);
  out.consumed.forEach(zeroOutUint8Array);
  const message = encodeMessage({ wireformat: "mls_private_message", version: "mls10", privateMessage: out.privateMessage });
  const clientMessageId = `m_${toHex(crypto.getRandomValues(new Uint8Array(16)))}`;
  for (let attempt = 0; ; attempt++) {
    try {
      return await ctx.api.postMessage(groupId, clientMessageId, message);
    } catch (e) {
      const transient = e instanceof NetworkError || (e instanceof ApiError && e.transient);
      if (!transient || attempt >= POST_RETRIES) throw e;
    }
  }
}

/**
 * This user leaves the group on all its devices. A member cannot commit its own removal (RFC 9420 §12.2) and the
 * Delivery Service takes no standalone proposals, so: the user's other devices are removed by a commit, a `leave`
 * message asks the remaining members to remove this one (encrypted and signed, so nobody can forge it), and the
 * group's secrets are deleted here at once.
 */
export async function leave(ctx: DeviceContext, groupId: string): Promise<LeaveReport> {
  // A device that already learnt of its removal (it read the commit that removed it) has forgotten the group:
  // leaving it again is done.
  if (!(await ctx.store.loadGroup(checkGroupId(groupId)))) return { groupId, removedDevices: [], removalPending: false };
  const r = await catchUp(ctx, groupId);
  if (r.removed) {
    await ctx.store.deleteGroup(groupId); // already removed: only the local state is left to forget
    return { groupId, removedDevices: [], removalPending: false };
  }
  const { state } = await loadGroup(ctx, groupId);
  const ownOthers = devicesOf(state, new Set([ctx.me.userId])).filter((d) => !sameDevice(d, ctx.me));
  if (ownOthers.length) await commitIntent(ctx, groupId, { kind: "remove", devices: ownOthers });
  const removalPending = leaves(state).some((l) => l.userId !== ctx.me.userId);
  if (removalPending) await postContent(ctx, groupId, { type: "leave" });
  await ctx.store.deleteGroup(groupId);
  return { groupId, removedDevices: ownOthers.map((d) => d.deviceId), removalPending };
}
