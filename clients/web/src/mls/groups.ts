// The group operations (clients/sdk/src/device/groups/mod.rs): create, add, remove, members, list, send, read and
// leave. What a commit, a message or a Welcome may do is the core's decision (commit.ts, log.ts, join.ts drive it);
// commits go through commitIntent, which retries epoch conflicts, so a caller sees one success.

import { ApiError, NetworkError } from "../api.js";
import { isWellFormed, toHex } from "../bytes.js";
import { InputError } from "../errors.js";
import { type GroupLogEntry } from "./api.js";
import { addUserDevices, commitIntent } from "./commit.js";
import { type DeviceContext, type DeviceIdentity, checkUserIds, groupMeta, holds, memberDevices, save, usernameOf } from "./context.js";
import { core, coreJson } from "./core.js";
import { MlsError } from "./errors.js";
import { catchUp, settle } from "./log.js";
import { type GroupMessage } from "./store.js";

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

/** The group as this device holds it now (no network). */
export async function report(ctx: DeviceContext, groupId: string): Promise<GroupReport> {
  const meta = groupMeta(ctx, groupId);
  const members: MemberView[] = [];
  for (const d of memberDevices(ctx, groupId)) {
    const username = await usernameOf(ctx, d.userId);
    members.push(username === undefined ? d : { userId: d.userId, username, deviceId: d.deviceId });
  }
  const r: GroupReport = { groupId, epoch: core(() => ctx.core.epoch(groupId)), members };
  if (meta.name !== undefined) r.name = meta.name;
  return r;
}

/** A new group of this device, then every other trusted device of this user and of `memberIds` added in one commit. */
export async function createGroup(ctx: DeviceContext, memberIds: readonly string[], name?: string): Promise<GroupReport> {
  checkUserIds(memberIds);
  if (name !== undefined && (typeof name !== "string" || !isWellFormed(name))) throw new InputError("invalid_input", "the name must be a well-formed string");
  const created = coreJson<{ groupId: string; groupInfo: string; ratchetTree: string }>(() => ctx.core.createGroup(name, Date.now()));
  await save(ctx);
  try {
    await ctx.api.createGroup(created.groupInfo, created.ratchetTree);
  } catch (e) {
    core(() => ctx.core.forget(created.groupId));
    await save(ctx);
    throw e;
  }
  const users = [ctx.me.userId, ...new Set(memberIds.filter((u) => u !== ctx.me.userId))];
  await addUserDevices(ctx, created.groupId, users);
  return report(ctx, created.groupId);
}

/** Every trusted device of each user that is not a member yet. */
export async function addMembers(ctx: DeviceContext, groupId: string, userIds: readonly string[]): Promise<GroupReport> {
  checkUserIds(userIds);
  await addUserDevices(ctx, groupId, [...new Set(userIds)]);
  return report(ctx, groupId);
}

/** Every device of each user leaves the group (one commit). */
export async function removeMembers(ctx: DeviceContext, groupId: string, userIds: readonly string[]): Promise<GroupReport> {
  checkUserIds(userIds);
  if (userIds.includes(ctx.me.userId)) throw new InputError("invalid_input", "this device cannot remove itself; use leave()");
  await catchUp(ctx, groupId);
  const users = new Set(userIds);
  if (!memberDevices(ctx, groupId).some((d) => users.has(d.userId))) throw new InputError("invalid_input", "none of these users is a member of the group");
  await commitIntent(ctx, groupId, () => ctx.core.stageRemoveUsers(groupId, [...users]));
  return report(ctx, groupId);
}

/** Removes `device` from every group of this device that has it (a commit per group). */
export async function removeDeviceEverywhere(ctx: DeviceContext, device: DeviceIdentity): Promise<void> {
  const devices = JSON.stringify([device]);
  for (const groupId of ctx.core.groupIds()) {
    const r = await catchUp(ctx, groupId);
    if (r.removed || !memberDevices(ctx, groupId).some((d) => d.userId === device.userId && d.deviceId === device.deviceId)) continue;
    await commitIntent(ctx, groupId, () => ctx.core.stageRemove(groupId, devices));
  }
}

/** The group's member devices after reading its log. */
export async function members(ctx: DeviceContext, groupId: string): Promise<GroupReport> {
  const r = await settle(ctx, groupId);
  if (r.removed && !holds(ctx, groupId)) throw new MlsError("not_in_group", `this device was removed from group ${groupId}`);
  return report(ctx, groupId);
}

/** The groups this device is in, as last saved (no network). */
export async function listGroups(ctx: DeviceContext): Promise<GroupReport[]> {
  const out: GroupReport[] = [];
  for (const id of ctx.core.groupIds()) out.push(await report(ctx, id));
  return out;
}

/** The messages this device keeps for the group (read and sent, oldest first), as last saved: no network. */
export function keptMessages(ctx: DeviceContext, groupId: string): GroupMessage[] {
  return groupMeta(ctx, groupId).messages;
}

/** Processes the group's new rows; returns the new messages (with `all`, every message kept for the group). */
export async function read(ctx: DeviceContext, groupId: string, all = false): Promise<GroupReadReport> {
  const before = keptMessages(ctx, groupId);
  const r = await settle(ctx, groupId);
  // Gone when a processed commit removed this device: then what it kept before plus what it read now.
  const messages = !all ? r.messages : holds(ctx, groupId) ? keptMessages(ctx, groupId) : [...before, ...r.messages];
  return { groupId, epoch: r.epoch, messages, removed: r.removed };
}

/** A text message of the current epoch (after a leaf update when one is due). */
export async function send(ctx: DeviceContext, groupId: string, text: string): Promise<GroupLogEntry> {
  if (typeof text !== "string" || !isWellFormed(text)) throw new InputError("invalid_input", "the text must be a well-formed string");
  const r = await settle(ctx, groupId);
  if (r.removed) throw new MlsError("not_in_group", `this device was removed from group ${groupId}`);
  const meta = groupMeta(ctx, groupId);
  if (meta.sentSinceUpdate >= UPDATE_AFTER_MESSAGES || Date.now() - meta.updatedAt > UPDATE_AFTER_MS) {
    await commitIntent(ctx, groupId, () => ctx.core.stageUpdate(groupId));
  }
  const entry = await post(ctx, groupId, core(() => ctx.core.encryptText(groupId, text)));
  core(() => ctx.core.recordSent(groupId, entry.seq, entry.epoch, text, ctx.trust.core));
  await save(ctx);
  return entry;
}

/** Posts a message the core encrypted; the advanced ratchet is saved before the message leaves, so a key is never
 * used twice. A transient failure is repeated under the same client message id. */
async function post(ctx: DeviceContext, groupId: string, message: string): Promise<GroupLogEntry> {
  await save(ctx);
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
  if (!holds(ctx, groupId)) return { groupId, removedDevices: [], removalPending: false };
  const r = await catchUp(ctx, groupId);
  if (!r.removed) {
    const devices = memberDevices(ctx, groupId);
    const ownOthers = devices.filter((d) => d.userId === ctx.me.userId && d.deviceId !== ctx.me.deviceId);
    if (ownOthers.length) await commitIntent(ctx, groupId, () => ctx.core.stageRemove(groupId, JSON.stringify(ownOthers)));
    const removalPending = devices.some((d) => d.userId !== ctx.me.userId);
    if (removalPending) await post(ctx, groupId, core(() => ctx.core.encryptLeave(groupId)));
    core(() => ctx.core.forget(groupId));
    await save(ctx);
    return { groupId, removedDevices: ownOthers.map((d) => d.deviceId), removalPending };
  }
  if (holds(ctx, groupId)) core(() => ctx.core.forget(groupId)); // already removed: only the local state is left
  await save(ctx);
  return { groupId, removedDevices: [], removalPending: false };
}
