// Reading a group's log (clients/sdk/src/device/groups/log.rs): every row after this device's position handed to
// the core in order, which decides what it is — a commit checked (each leaf it brings in must be a trusted device;
// the core asks for the users whose listings decide, fetched here) and merged or refused, a message decrypted, this
// device's own pending commit settled — each reported as ok / left / failed with a reason, nothing dropped; then the
// removals members asked for in `leave` messages committed.

import { ApiError, ResponseError } from "../api.js";
import { type CommitBundle } from "./api.js";
import { commitIntent } from "./commit.js";
import { type DeviceContext, groupMeta, memberDevices, save } from "./context.js";
import { core, coreJson } from "./core.js";
import { MlsError } from "./errors.js";
import { type GroupMessage } from "./store.js";

/** Most log pages one read processes (100 rows a page); the rest is read on the next call. */
export const MAX_LOG_PAGES = 50;

export interface CatchUp {
  /** The messages read in this catch-up, in log order. */
  messages: GroupMessage[];
  /** This device is no member any more: a processed commit removed it (its state of the group is then deleted),
   * or the server refuses it the log as no member of the current epoch (how the Delivery Service tells a removed
   * device; the state is kept, leave() forgets it). */
  removed: boolean;
  /** The group's epoch after reading (the last one this device held when a commit removed it). */
  epoch: number;
}

interface RowRead {
  done: boolean;
  users?: string[];
  message?: GroupMessage;
}

/** Reads and processes the group's log after this device's position; the state is saved after every page. */
export async function catchUp(ctx: DeviceContext, groupId: string): Promise<CatchUp> {
  const messages: GroupMessage[] = [];
  await ctx.trust.name([ctx.me.userId, ...memberDevices(ctx, groupId).map((d) => d.userId)]);
  for (let pages = 0; pages < MAX_LOG_PAGES; pages++) {
    const from = groupMeta(ctx, groupId).after ?? null;
    let page;
    try {
      page = await ctx.api.groupLog(groupId, from);
    } catch (e) {
      // A device that is no longer a member reads up to the commit that removed it; after that the group is an
      // unknown group to it (the Delivery Service answers non-members exactly as for a group that does not exist).
      if (e instanceof ApiError && e.status === 404 && e.code === "group_not_found") return { messages, removed: true, epoch: core(() => ctx.core.epoch(groupId)) };
      throw e;
    }
    if (page.nextAfter !== null && from !== null && page.nextAfter <= from) throw new ResponseError("the server repeated a log position");
    for (const row of page.entries) {
      const epoch = core(() => ctx.core.epoch(groupId));
      const rowJson = JSON.stringify(row);
      let read = coreJson<RowRead>(() => ctx.core.readRow(groupId, rowJson, ctx.trust.core));
      if (!read.done) {
        await ctx.trust.ensure(read.users ?? []);
        read = coreJson<RowRead>(() => ctx.core.finishCommit(groupId, ctx.trust.core));
      }
      if (read.message) messages.push(read.message);
      if (core(() => ctx.core.epoch(groupId)) !== epoch && !core(() => ctx.core.isMember(groupId))) {
        // Removed: nothing more is readable (the server answers group_not_found from now on); forget its secrets.
        const last = ctx.core.epoch(groupId);
        core(() => ctx.core.forget(groupId));
        await save(ctx);
        return { messages, removed: true, epoch: last };
      }
    }
    const complete = page.nextAfter === null;
    // A pending commit no row settled was never stored once the whole log is read; a device that could not process
    // an accepted commit (it may be an older copy of itself) rejoins.
    const stuck = core(() => ctx.core.endOfPage(groupId, complete));
    await save(ctx);
    if (stuck) await rejoinIfBehind(ctx, groupId);
    if (complete || page.entries.length === 0) break;
  }
  return { messages, removed: false, epoch: core(() => ctx.core.epoch(groupId)) };
}

/**
 * Rejoins by external commit from `GET /api/groups/{groupId}` if the group is past this device's epoch (docs/mls.md,
 * "recovery"): every member must be a trusted device, as for a Welcome. A rejoin the core refuses (a member this
 * device does not trust — e.g. the one whose commit it refused —, or a GroupInfo it cannot use) leaves the device
 * where it was: the failed row already says why. The rejoin counts only once the server accepts it; a refusal of
 * the commit fails the operation, and MlsDevice reloads the state as last saved.
 */
async function rejoinIfBehind(ctx: DeviceContext, groupId: string): Promise<void> {
  const view = await ctx.api.group(groupId);
  await ctx.trust.ensure(view.members.map((m) => m.userId));
  const viewJson = JSON.stringify(view);
  let bundle: string | undefined;
  try {
    bundle = core(() => ctx.core.rejoin(groupId, viewJson, ctx.trust.core));
  } catch (e) {
    if (e instanceof MlsError && (e.code === "untrusted_device" || e.code === "mls_failure")) return;
    throw e;
  }
  if (bundle === undefined) return;
  const entry = await ctx.api.postCommit(groupId, JSON.parse(bundle) as CommitBundle);
  core(() => ctx.core.rejoinAccepted(groupId, entry.seq, Date.now()));
  await save(ctx);
}

/**
 * Catches up, then commits the removal of every user whose device asked to leave and is still a member (every
 * member's device does this; those that lose the epoch find the removal done and commit nothing).
 */
export async function settle(ctx: DeviceContext, groupId: string): Promise<CatchUp> {
  const read = await catchUp(ctx, groupId);
  if (read.removed) return read;
  const requests = groupMeta(ctx, groupId).leaveRequests ?? [];
  if (requests.length === 0) return read;
  await commitIntent(ctx, groupId, () => ctx.core.stageRemoveUsers(groupId, requests));
  core(() => ctx.core.forgetLeaveRequests(groupId, requests));
  await save(ctx);
  return { ...read, epoch: ctx.core.epoch(groupId) };
}
