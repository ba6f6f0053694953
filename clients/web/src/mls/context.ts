// What every group operation works with: the session (pins, identity key), the device and its store, the
// device-token API and the per-operation directory cache. The operations are plain functions over this context
// (groups.ts, commit.ts, log.ts, join.ts); MlsDevice (device.ts) builds it and serializes the operations.

import { checkId } from "../ids.js";
import { InputError } from "../errors.js";
import { type Session } from "../session.js";
import { type MlsApi } from "./api.js";
import { MlsError } from "./errors.js";
import { type DeviceRecord, type DeviceStore, type LoadedGroup } from "./store.js";
import { type DeviceIdentity } from "./suite.js";
import { type DirectoryCache } from "./trust.js";

export interface DeviceContext {
  readonly session: Session;
  readonly store: DeviceStore;
  /** Device-token client of the MLS routes. */
  readonly api: MlsApi;
  readonly device: DeviceRecord;
  readonly me: DeviceIdentity;
  readonly directory: DirectoryCache;
  /** Usernames learnt from lookups by name on this device object (user id -> username). */
  readonly names: ReadonlyMap<string, string>;
}

/** The group as this device last saved it; MlsError("not_in_group") when it holds none. */
export async function loadGroup(ctx: DeviceContext, groupId: string): Promise<LoadedGroup> {
  const g = await ctx.store.loadGroup(checkGroupId(groupId));
  if (!g) throw new MlsError("not_in_group", `this device is not in group ${groupId} (sync first if it was just added)`);
  return g;
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
export async function usernameOf(ctx: DeviceContext, userId: string): Promise<string | undefined> {
  const name = (await ctx.session.pins.get(userId))?.username;
  return name ? name : ctx.names.get(userId);
}
