// Commits (clients/sdk/src/device/groups/commit.rs): the core stages a commit for what the caller wants done
// (add these packages, remove these devices, update this leaf) against the newest epoch, after the log was read; the
// state, with the commit pending, is saved before it is posted (review N4: a lost answer is settled from the log),
// and after losing the epoch to another member (409 epoch_taken / wrong_epoch) the commit is dropped, the winner
// read and the same change staged again, up to COMMIT_ATTEMPTS times.

import { ApiError } from "../api.js";
import { type CommitBundle, type GroupLogEntry } from "./api.js";
import { type DeviceContext, memberDevices, save } from "./context.js";
import { core } from "./core.js";
import { catchUp } from "./log.js";

/** Attempts before an epoch conflict is reported (each loss means another member committed first). */
export const COMMIT_ATTEMPTS = 8;

export function isEpochConflict(e: unknown): boolean {
  return e instanceof ApiError && (e.code === "epoch_taken" || e.code === "wrong_epoch");
}

/**
 * Commits what `stage` stages (a core call answering the bundle's JSON, or undefined when nothing is left to do: a
 * winner did it) against the newest epoch. Resolves to the commit's log row, or null when nothing was committed.
 * A failure other than a lost epoch leaves the commit pending: the next read of the log merges or drops it.
 */
export async function commitIntent(ctx: DeviceContext, groupId: string, stage: () => string | undefined): Promise<GroupLogEntry | null> {
  let lastConflict: unknown;
  for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
    await catchUp(ctx, groupId);
    const staged = core(stage);
    if (staged === undefined) return null;
    await save(ctx);
    let entry: GroupLogEntry;
    try {
      entry = await ctx.api.postCommit(groupId, JSON.parse(staged) as CommitBundle);
    } catch (e) {
      if (!isEpochConflict(e)) throw e;
      core(() => ctx.core.dropPendingCommit(groupId));
      await save(ctx);
      lastConflict = e;
      continue;
    }
    // The read position stays: rows others appended meanwhile are still read; this commit's own row is skipped.
    core(() => ctx.core.commitAccepted(groupId, Date.now()));
    await save(ctx);
    return entry;
  }
  throw lastConflict;
}

/**
 * Claims a key package of every device of `userIds` that is not in the group yet and commits their add. The core
 * checks each package (valid, of the device it names, and of a device this device trusts: a ghost device the
 * server invented refuses the whole add with MlsError("untrusted_device"), nothing committed).
 */
export async function addUserDevices(ctx: DeviceContext, groupId: string, userIds: readonly string[]): Promise<GroupLogEntry | null> {
  const present = new Set(memberDevices(ctx, groupId).map((d) => `${d.userId}/${d.deviceId}`));
  const claimed: { userId: string; deviceId: string; keyPackage: string }[] = [];
  for (const userId of userIds) {
    for (const offered of (await ctx.api.claimKeyPackages(userId)).keyPackages) {
      if (!present.has(`${userId}/${offered.deviceId}`)) claimed.push({ userId, deviceId: offered.deviceId, keyPackage: offered.keyPackage });
    }
  }
  if (claimed.length === 0) return null;
  await ctx.trust.ensure(claimed.map((c) => c.userId));
  const packages = JSON.stringify(claimed);
  return commitIntent(ctx, groupId, () => ctx.core.stageAdd(groupId, packages, ctx.trust.core));
}
