// Commits (clients/sdk/src/device/groups/commit.rs): what a commit is for (an Intent), committed against the newest
// epoch after reading the log, and after losing an epoch to another member (409 epoch_taken / wrong_epoch)
// re-applied on the reloaded state, up to COMMIT_ATTEMPTS times. Commits travel as PublicMessage so that the
// Delivery Service can validate them (ts-mls's default is PrivateMessage).

import { type ClientState, type KeyPackage, type Proposal, createCommit, zeroOutUint8Array } from "ts-mls";
import { createGroupInfo } from "ts-mls/createCommit.js";
import { ApiError } from "../api.js";
import { InputError } from "../errors.js";
import { type GroupLogEntry } from "./api.js";
import { type DeviceContext, loadGroup } from "./context.js";
import { MlsError, describe } from "./errors.js";
import { checkedKeyPackage } from "./keypackages.js";
import { catchUp } from "./log.js";
import { type DeviceIdentity, encodeMessage, identityOf, leaves, sameDevice, suite } from "./suite.js";

/** Attempts before an epoch conflict is reported (each loss means another member committed first). */
export const COMMIT_ATTEMPTS = 8;

export type Intent = { kind: "add"; packages: KeyPackage[] } | { kind: "remove"; devices: DeviceIdentity[] } | { kind: "update" };

export function isEpochConflict(e: unknown): boolean {
  return e instanceof ApiError && (e.code === "epoch_taken" || e.code === "wrong_epoch");
}

/** The proposals that carry out `intent` on `state` now, or null when nothing is left to do (a winner did it). */
function proposalsFor(ctx: DeviceContext, state: ClientState, intent: Intent): Proposal[] | null {
  const present = leaves(state);
  switch (intent.kind) {
    case "add": {
      const missing = intent.packages.filter((kp) => {
        const id = identityOf(kp.leafNode.credential);
        return id !== null && !present.some((l) => sameDevice(l, id));
      });
      return missing.length ? missing.map((keyPackage) => ({ proposalType: "add", add: { keyPackage } })) : null;
    }
    case "remove": {
      const gone = present.filter((l) => intent.devices.some((d) => sameDevice(l, d)));
      // RFC 9420 §12.2: a member cannot commit its own removal (see leave()).
      if (gone.some((l) => sameDevice(l, ctx.me))) throw new InputError("invalid_input", "this device cannot remove itself; use leave()");
      return gone.length ? gone.map((l) => ({ proposalType: "remove", remove: { removed: l.leafIndex } })) : null;
    }
    case "update":
      return []; // a commit without proposals carries a fresh update path: the leaf update
  }
}

/**
 * Commits `intent` against the newest epoch. On 409 epoch_taken / wrong_epoch the staged commit is dropped (the
 * state is reloaded as saved), the winner read, and the intent re-applied. Resolves to the commit's log row, or
 * null when nothing was left to commit. The new state is saved only once the server accepted the commit.
 */
export async function commitIntent(ctx: DeviceContext, groupId: string, intent: Intent): Promise<GroupLogEntry | null> {
  const cs = await suite();
  let lastConflict: unknown;
  for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
    await catchUp(ctx, groupId);
    const { state, meta } = await loadGroup(ctx, groupId);
    const proposals = proposalsFor(ctx, state, intent);
    if (proposals === null) return null;
    let staged: Awaited<ReturnType<typeof createCommit>>;
    let groupInfo: string;
    try {
      staged = await createCommit({ state, cipherSuite: cs }, { wireAsPublicMessage: true, ratchetTreeExtension: true, extraProposals: proposals });
      // The new epoch's GroupInfo without external_pub: ts-mls encodes that extension without the length prefix
      // RFC 9420 §12.4.3.2 gives it (openmls reads it with one), and nobody joins these groups externally.
      const gi = await createGroupInfo(staged.newState.groupContext, staged.newState.confirmationTag, staged.newState, [], cs);
      groupInfo = encodeMessage({ wireformat: "mls_group_info", version: "mls10", groupInfo: gi });
    } catch (e) {
      throw new MlsError("mls_failure", `cannot build the commit (${describe(e)})`);
    }
    const bundle: { commit: string; groupInfo: string; welcome?: string } = { commit: encodeMessage(staged.commit), groupInfo };
    if (staged.welcome) bundle.welcome = encodeMessage({ wireformat: "mls_welcome", version: "mls10", welcome: staged.welcome });
    let entry: GroupLogEntry;
    try {
      entry = await ctx.api.postCommit(groupId, bundle);
    } catch (e) {
      if (!isEpochConflict(e)) throw e;
      lastConflict = e; // the staged state is dropped: the next attempt reloads the saved one
      continue;
    }
    // The read position stays: rows others appended meanwhile are still read; this commit's own row is skipped.
    if (intent.kind === "update") {
      meta.sentSinceUpdate = 0;
      meta.updatedAt = Date.now();
    }
    await ctx.store.saveGroup(groupId, staged.newState, meta);
    staged.consumed.forEach(zeroOutUint8Array);
    return entry;
  }
  throw lastConflict;
}

/**
 * Claims a key package of every device of `userIds` that is not in the group yet, checks each (a package of a
 * device its user never certified with a key this device trusts — a ghost — refuses the whole add, nothing is
 * committed), and commits the add.
 */
export async function addUserDevices(ctx: DeviceContext, groupId: string, userIds: readonly string[]): Promise<GroupLogEntry | null> {
  const present = leaves((await loadGroup(ctx, groupId)).state);
  const packages: KeyPackage[] = [];
  for (const userId of userIds) {
    const claimed = await ctx.api.claimKeyPackages(userId);
    for (const offered of claimed.keyPackages) {
      const device = { userId, deviceId: offered.deviceId };
      if (present.some((l) => sameDevice(l, device))) continue;
      packages.push(await checkedKeyPackage(ctx, device, offered.keyPackage));
    }
  }
  if (packages.length === 0) return null;
  return commitIntent(ctx, groupId, { kind: "add", packages });
}

/** The devices of `users` that are leaves of the group. */
export function devicesOf(state: ClientState, users: ReadonlySet<string>): DeviceIdentity[] {
  return leaves(state)
    .filter((l) => users.has(l.userId))
    .map((l) => ({ userId: l.userId, deviceId: l.deviceId }));
}
