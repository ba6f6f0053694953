// Joining (clients/sdk/src/device/groups/join.rs): groups joined from Welcomes — the core decrypts a Welcome, names
// the users whose devices decide, and joins only if every member is a trusted device, else refuses (final or not:
// a final refusal is acknowledged, another stays in the inbox for a later sync) — and `sync`: join, acknowledge,
// top up key packages, read every group, add this user's trusted devices that a group is missing (an approver's job
// after approving a device) and remove the devices their users revoked.

import { ApiError } from "../api.js";
import { type DeviceView, type WelcomeView } from "./api.js";
import { addUserDevices, commitIntent } from "./commit.js";
import { type DeviceContext, type DeviceIdentity, holds, memberDevices, save } from "./context.js";
import { coreJson } from "./core.js";
import { type GroupReadReport, read } from "./groups.js";
import { topUpKeyPackages } from "./keypackages.js";

export interface SyncReport {
  /** Groups joined from Welcomes in this sync. */
  joined: string[];
  /** Welcomes refused (a member this device does not trust, one it cannot read, …), with the reason; those that
   * may still be joined later (e.g. once a member's device is certified) stay in the inbox. */
  refused: string[];
  groups: GroupReadReport[];
}

/** The core's decision on a Welcome. */
interface WelcomeOutcome {
  joined: boolean;
  refused?: string;
  final?: boolean;
  reason?: string;
}

export async function sync(ctx: DeviceContext): Promise<SyncReport> {
  const joined: string[] = [];
  const refused: string[] = [];
  for (const w of await pendingWelcomes(ctx)) {
    if (holds(ctx, w.groupId)) {
      await ctx.api.ackWelcome(w.groupId, w.epoch);
      continue;
    }
    const outcome = await join(ctx, w);
    if (outcome.joined) {
      await save(ctx);
      joined.push(w.groupId);
    } else {
      refused.push(outcome.reason ?? outcome.refused ?? "refused");
      if (!outcome.final) continue;
    }
    await ctx.api.ackWelcome(w.groupId, w.epoch);
  }
  await topUpKeyPackages(ctx);
  const groups: GroupReadReport[] = [];
  for (const groupId of ctx.core.groupIds()) {
    const r = await read(ctx, groupId);
    if (!r.removed) {
      await addOwnDevices(ctx, groupId);
      await removeRevokedMembers(ctx, groupId);
    }
    groups.push(r);
  }
  return { joined, refused, groups };
}

/** Most pages of the Welcome inbox one sync reads (50 Welcomes a page at most); the rest waits for the next sync. */
export const MAX_WELCOME_PAGES = 20;

/** Every page of the Welcome inbox, following `nextAfter` at most {@link MAX_WELCOME_PAGES} times. */
async function pendingWelcomes(ctx: DeviceContext): Promise<WelcomeView[]> {
  const all: WelcomeView[] = [];
  let after: string | null = null;
  for (let page = 0; page < MAX_WELCOME_PAGES; page++) {
    const list = await ctx.api.welcomes(after);
    all.push(...list.welcomes);
    // A server that repeats a position would loop: stop instead.
    if (list.nextAfter === undefined || list.nextAfter === null || list.nextAfter === after) break;
    after = list.nextAfter;
  }
  return all;
}

/** Opens the Welcome, fetches the listings of the users the core names, and lets the core join or refuse. */
async function join(ctx: DeviceContext, w: WelcomeView): Promise<WelcomeOutcome> {
  const opened = coreJson<WelcomeOutcome | { groupId: string; users: string[] }>(() => ctx.core.openWelcome(w.welcome, w.groupId, w.createdAt, Date.now()));
  if ("joined" in opened) return opened;
  await ctx.trust.ensure(opened.users);
  return coreJson<WelcomeOutcome>(() => ctx.core.finishWelcome(ctx.trust.core, Date.now()));
}

/** Commits the removal of the group's devices that their users' listings no longer list (revoked; review N13), one
 * commit for all of them. The core decides which (`revokedMembers`) from the listings this operation fetched. */
async function removeRevokedMembers(ctx: DeviceContext, groupId: string): Promise<void> {
  const listings: Record<string, DeviceView[]> = {};
  for (const userId of new Set(memberDevices(ctx, groupId).map((d) => d.userId))) listings[userId] = (await ctx.trust.devices(userId)).listed;
  const listingsJson = JSON.stringify(listings);
  const revoked = coreJson<DeviceIdentity[]>(() => ctx.core.revokedMembers(groupId, listingsJson));
  if (revoked.length === 0) return;
  const devices = JSON.stringify(revoked);
  await commitIntent(ctx, groupId, () => ctx.core.stageRemove(groupId, devices));
}

/** Adds this user's trusted devices missing from the group, if the server has key packages for them. */
async function addOwnDevices(ctx: DeviceContext, groupId: string): Promise<void> {
  if (!holds(ctx, groupId)) return;
  const present = new Set(memberDevices(ctx, groupId).filter((d) => d.userId === ctx.me.userId).map((d) => d.deviceId));
  const own = await ctx.trust.devices(ctx.me.userId);
  if (![...own.trusted].some((d) => !present.has(d))) return;
  try {
    await addUserDevices(ctx, groupId, [ctx.me.userId]);
  } catch (e) {
    // No key package yet (the new device has not synced since its approval): next time.
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
}
