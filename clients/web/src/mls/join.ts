// Joining (clients/sdk/src/device/groups/join.rs): groups joined from Welcomes — every member certified, else the
// Welcome is refused and left in the inbox — and `sync`: join, acknowledge, top up key packages, read every group,
// and add this user's certified devices that a group is missing (an approver's job after approving a device).

import { emptyPskIndex, joinGroup } from "ts-mls";
import { ApiError } from "../api.js";
import { type WelcomeView } from "./api.js";
import { addUserDevices } from "./commit.js";
import { type DeviceContext } from "./context.js";
import { MlsError, describe } from "./errors.js";
import { type GroupReadReport, read } from "./groups.js";
import { keyPackageFor, topUpKeyPackages } from "./keypackages.js";
import { CLIENT_CONFIG, deviceLabel, expectMessage, groupIdHex, identityOf, leaves, sameDevice, suite } from "./suite.js";

export interface SyncReport {
  /** Groups joined from Welcomes in this sync. */
  joined: string[];
  /** Welcomes refused (a member this device does not trust, or a key package it does not hold), with the reason;
   * they stay in the inbox. */
  refused: string[];
  groups: GroupReadReport[];
}

export async function sync(ctx: DeviceContext): Promise<SyncReport> {
  const joined: string[] = [];
  const refused: string[] = [];
  for (const w of await pendingWelcomes(ctx)) {
    if ((await ctx.store.loadGroup(w.groupId)) !== undefined) {
      await ctx.api.ackWelcome(w.groupId, w.epoch);
      continue;
    }
    try {
      joined.push(await join(ctx, w.welcome));
    } catch (e) {
      if (e instanceof MlsError && (e.code === "untrusted_device" || e.code === "unknown_key_package")) {
        refused.push(e.detail);
        continue;
      }
      throw e;
    }
    await ctx.api.ackWelcome(w.groupId, w.epoch);
  }
  await topUpKeyPackages(ctx);
  const groups: GroupReadReport[] = [];
  for (const groupId of await ctx.store.groupIds()) {
    const r = await read(ctx, groupId);
    if (!r.removed) await addOwnDevices(ctx, groupId);
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

/** Joins a group from a Welcome if every other member is a certified device; returns the group id. */
async function join(ctx: DeviceContext, welcomeB64: string): Promise<string> {
  const welcome = expectMessage(welcomeB64, "mls_welcome", "a Welcome").welcome;
  const { stored, publicPackage, privatePackage } = await keyPackageFor(ctx, welcome);
  let state;
  try {
    // The tree comes in the Welcome's ratchet_tree extension (openmls and this SDK both send it).
    state = await joinGroup(welcome, publicPackage, privatePackage, emptyPskIndex, await suite(), undefined, undefined, CLIENT_CONFIG);
  } catch (e) {
    throw new MlsError("mls_failure", `cannot join from the Welcome (${describe(e)})`);
  }
  for (const node of state.ratchetTree) {
    if (node?.nodeType !== "leaf") continue;
    const id = identityOf(node.leaf.credential);
    if (id && sameDevice(id, ctx.me)) continue;
    if (!id || !(await ctx.directory.isCertified(id.userId, id.deviceId, node.leaf.signaturePublicKey))) {
      const who = id ? deviceLabel(id) : "a leaf without a device credential";
      throw new MlsError("untrusted_device", `a Welcome to a group with ${who}, which is not certified by a key this device trusts: not joined`, id ?? undefined);
    }
  }
  const groupId = groupIdHex(state);
  await ctx.store.saveGroup(groupId, state, { after: null, sentSinceUpdate: 0, updatedAt: Date.now(), messages: [], leaveRequests: [] });
  // A one-time package is used up; a last-resort one may serve other Welcomes until it expires.
  if (!stored.lastResort) await ctx.store.deleteKeyPackage(stored.ref);
  return groupId;
}

/** Adds this user's certified devices missing from the group, if the server has key packages for them. */
async function addOwnDevices(ctx: DeviceContext, groupId: string): Promise<void> {
  const loaded = await ctx.store.loadGroup(groupId);
  if (!loaded) return;
  const present = leaves(loaded.state);
  const own = await ctx.directory.certified(ctx.me.userId);
  if (!own.some((d) => !present.some((l) => sameDevice(l, d)))) return;
  try {
    await addUserDevices(ctx, groupId, [ctx.me.userId]);
  } catch (e) {
    // No key package yet (the new device has not synced since its approval): next time.
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
}
