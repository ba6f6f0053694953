// What every group operation works with: the session (pins, identity key), the client core holding the device's
// state, its store, the device-token API and the per-operation trust. The operations are plain functions over this
// context (groups.ts, commit.ts, log.ts, join.ts); MlsDevice (device.ts) builds it and runs them one at a time.

import { checkId } from "../ids.js";
import { InputError } from "../errors.js";
import { type Session } from "../session.js";
import { type MlsApi } from "./api.js";
import { type CoreDevice, coreJson } from "./core.js";
import { type DeviceRecord, type DeviceStore, type GroupMeta } from "./store.js";
import { type TrustSession } from "./trust.js";

export interface DeviceIdentity {
  userId: string;
  deviceId: string;
}

export interface DeviceContext {
  readonly session: Session;
  readonly store: DeviceStore;
  /** The device's record as last saved (its `state` is replaced by every save). */
  readonly record: DeviceRecord;
  /** The core holding the device's state, unlocked. */
  readonly core: CoreDevice;
  /** Device-token client of the MLS routes. */
  readonly api: MlsApi;
  readonly me: DeviceIdentity;
  readonly trust: TrustSession;
  /** Usernames learnt from lookups by name on this device object (user id -> username). */
  readonly names: ReadonlyMap<string, string>;
}

/** Saves the core's state (every change is saved before what it produced leaves the device). */
export async function save(ctx: DeviceContext): Promise<void> {
  ctx.record.state = ctx.core.save();
  await ctx.store.save(ctx.record);
}

/** What the core tracks of the group; MlsError("not_in_group") when this device holds none. */
export function groupMeta(ctx: DeviceContext, groupId: string): GroupMeta {
  return coreJson<GroupMeta>(() => ctx.core.groupMeta(groupId));
}

/** Whether this device holds the group. */
export function holds(ctx: DeviceContext, groupId: string): boolean {
  return ctx.core.groupIds().includes(groupId);
}

/** The group's member devices, tree order. */
export function memberDevices(ctx: DeviceContext, groupId: string): DeviceIdentity[] {
  return coreJson<DeviceIdentity[]>(() => ctx.core.memberDevices(groupId));
}

/** Group ids are the lowercase hex of the MLS group id, 1–128 digits (the server's rule). */
export function checkGroupId(groupId: string): string {
  if (typeof groupId !== "string" || !/^[0-9a-f]{1,128}$/.test(groupId)) throw new InputError("invalid_input", "a group id is 1 to 128 lowercase hex digits");
  return groupId;
}

export function checkUserIds(userIds: readonly string[]): void {
  for (const u of userIds) {
    const problem = checkId(u);
    if (problem) throw new InputError("invalid_input", `user id: ${problem}`);
  }
}

/** The user's username as the pins know it, else as a lookup by name on this device object found it. */
export async function usernameOf(ctx: Pick<DeviceContext, "session" | "names">, userId: string): Promise<string | undefined> {
  const name = (await ctx.session.pins.get(userId))?.username;
  return name ? name : ctx.names.get(userId);
}
