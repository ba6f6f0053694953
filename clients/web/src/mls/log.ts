// Reading a group's log (clients/sdk/src/device/groups/log.rs): every row after this device's position processed in
// order — commits checked (each leaf they bring in must be certified) and merged, application messages decrypted —
// each reported as ok / left / failed with a reason, nothing dropped; then the removals members asked for in
// `leave` messages committed.

import { type ClientState, type LeafNode, type MLSMessage, acceptAll, emptyPskIndex, processMessage, zeroOutUint8Array } from "ts-mls";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import { ApiError, ResponseError } from "../api.js";
import { bytesEqual } from "../bytes.js";
import { type GroupLogEntry } from "./api.js";
import { commitIntent, devicesOf } from "./commit.js";
import { decodeContent } from "./content.js";
import { type DeviceContext, loadGroup, usernameOf } from "./context.js";
import { describe } from "./errors.js";
import { type GroupMessage, recordMessage } from "./store.js";
import { type DeviceIdentity, type Leaf, decodeMessage, deviceLabel, epochOf, identityOf, leafAt, sameDevice, suite } from "./suite.js";

export interface CatchUp {
  /** The messages read in this catch-up, in log order. */
  messages: GroupMessage[];
  /** This device is no member any more: a processed commit removed it (its state of the group is then deleted),
   * or the server refuses it the log as no member of the current epoch (how the Delivery Service tells a removed
   * device; the state is kept, leave() forgets it). */
  removed: boolean;
}

interface Outcome {
  state: ClientState;
  message: GroupMessage | null;
  consumed: Uint8Array[];
  removed: boolean;
}

/** Reads and processes the group's log after this device's position; the state is saved after every page. */
export async function catchUp(ctx: DeviceContext, groupId: string): Promise<CatchUp> {
  const messages: GroupMessage[] = [];
  for (;;) {
    const loaded = await loadGroup(ctx, groupId);
    const { meta } = loaded;
    let state = loaded.state;
    const from = meta.after;
    let page;
    try {
      page = await ctx.api.groupLog(groupId, from);
    } catch (e) {
      // A device that is no longer a member reads up to the commit that removed it; after that the group is an
      // unknown group to it (the Delivery Service answers non-members exactly as for a group that does not exist).
      if (e instanceof ApiError && e.status === 404 && e.code === "group_not_found") return { messages, removed: true };
      throw e;
    }
    const consumed: Uint8Array[] = [];
    for (const entry of page.entries) {
      const out = await processEntry(ctx, state, entry);
      state = out.state;
      consumed.push(...out.consumed);
      meta.after = entry.seq;
      const m = out.message;
      if (m) {
        if (m.status === "left" && m.senderUserId !== ctx.me.userId && !meta.leaveRequests.includes(m.senderUserId)) {
          meta.leaveRequests.push(m.senderUserId);
        }
        recordMessage(meta, m);
        messages.push(m);
      }
      if (out.removed) {
        // Removed: nothing more is readable (the server answers group_not_found from now on); forget the group's secrets.
        await ctx.store.deleteGroup(groupId);
        consumed.forEach(zeroOutUint8Array);
        return { messages, removed: true };
      }
    }
    // A page may hold no visible row and still continue: skip to where it ends (a page that does not move on would
    // loop forever).
    if (page.nextAfter !== null && from !== null && page.nextAfter <= from) throw new ResponseError("the server repeated a log position");
    if (page.nextAfter !== null) meta.after = page.nextAfter;
    await ctx.store.saveGroup(groupId, state, meta);
    // Used message keys and the old epochs' init secrets: wiped in memory once the new state is stored.
    consumed.forEach(zeroOutUint8Array);
    if (page.nextAfter === null) return { messages, removed: false };
  }
}

/**
 * Catches up, then commits the removal of every user whose device asked to leave and is still a member (every
 * member's device does this; those that lose the epoch find the removal done and commit nothing).
 */
export async function settle(ctx: DeviceContext, groupId: string): Promise<CatchUp> {
  const read = await catchUp(ctx, groupId);
  if (read.removed) return read;
  const { state, meta } = await loadGroup(ctx, groupId);
  if (meta.leaveRequests.length === 0) return read;
  const requests = new Set(meta.leaveRequests);
  const leaving = devicesOf(state, requests);
  if (leaving.length) await commitIntent(ctx, groupId, { kind: "remove", devices: leaving });
  const now = await loadGroup(ctx, groupId);
  now.meta.leaveRequests = now.meta.leaveRequests.filter((u) => !requests.has(u));
  await ctx.store.saveGroup(groupId, now.state, now.meta);
  return read;
}

/** One log row: a commit is checked and merged, an application message decrypted; a bad row is a failed message. */
async function processEntry(ctx: DeviceContext, state: ClientState, entry: GroupLogEntry): Promise<Outcome> {
  const skip: Outcome = { state, message: null, consumed: [], removed: false };
  const own = entry.senderUserId === ctx.me.userId && entry.senderDeviceId === ctx.me.deviceId;
  // Own messages were recorded when sent and own commits merged when accepted. A commit row in this device's name
  // for an epoch it has not reached is not one it made: processed like any other, it fails.
  if (entry.kind === "create" || (own && (entry.kind !== "commit" || entry.epoch <= epochOf(state)))) return skip;
  const base = {
    seq: entry.seq,
    sender: (await usernameOf(ctx, entry.senderUserId)) ?? entry.senderUserId,
    senderUserId: entry.senderUserId,
    senderDevice: entry.senderDeviceId,
    epoch: entry.epoch,
  };
  const failed = (reason: string, kept = state, consumed: Uint8Array[] = []): Outcome => ({
    state: kept,
    message: { ...base, status: "failed", reason },
    consumed,
    removed: false,
  });
  const named: DeviceIdentity = { userId: entry.senderUserId, deviceId: entry.senderDeviceId };
  const msg = decodeMessage(entry.message);
  if (!msg || !ofGroup(msg, state)) return failed("not an MLS message of this group");
  const cs = await suite();

  if (msg.wireformat === "mls_public_message") {
    const content = msg.publicMessage.content;
    if (content.contentType !== "commit") return failed("a proposal or message as PublicMessage, which this group does not use");
    let result;
    try {
      result = await processMessage(msg, state, emptyPskIndex, acceptAll, cs);
    } catch (e) {
      return failed(`cannot be processed: ${describe(e)}`);
    }
    const author = content.sender.senderType === "member" ? leafAt(state.ratchetTree, content.sender.leafIndex) : null;
    if (!author || !sameDevice(author, named)) return failed("the sender's leaf is not the device the server names");
    const incoming: LeafNode[] = content.commit.proposals.flatMap((p) =>
      p.proposalOrRefType === "proposal" && p.proposal.proposalType === "add" ? [p.proposal.add.keyPackage.leafNode] : [],
    );
    if (content.commit.path) incoming.push(content.commit.path.leafNode);
    for (const leaf of incoming) {
      const id = identityOf(leaf.credential);
      if (!id || !(await ctx.directory.isCertified(id.userId, id.deviceId, leaf.signaturePublicKey))) {
        const who = id ? deviceLabel(id) : "a leaf without a device credential";
        return failed(`trust refused: the commit brings in ${who}, which is not certified by a key this device trusts; the group is not changed`);
      }
    }
    const removed = result.newState.groupActiveState.kind === "removedFromGroup";
    return { state: result.newState, message: null, consumed: result.consumed, removed };
  }

  if (msg.wireformat !== "mls_private_message") return failed("not an MLS message of this group");
  const pm = msg.privateMessage;
  if (pm.contentType !== "application") return failed("a handshake message as PrivateMessage, which this group does not use");
  let result;
  try {
    result = await processMessage(msg, state, emptyPskIndex, acceptAll, cs);
  } catch (e) {
    // A replayed row fails here too: its key was used and deleted.
    return failed(`cannot be processed: ${describe(e)}`);
  }
  if (result.kind !== "applicationMessage") return failed("not an application message");
  // The message key is used up whatever follows: the new state is kept even for a refused message.
  const next = result.newState;
  const author = await privateSender(state, msg);
  if (!author || !sameDevice(author, named)) return failed("the sender's leaf is not the device the server names", next, result.consumed);
  const content = decodeContent(result.message);
  if (!content) return failed("a kind of message this client does not know", next, result.consumed);
  const message: GroupMessage =
    content.type === "text" ? { ...base, text: content.text, status: "ok" } : { ...base, status: "left" };
  return { state: next, message, consumed: result.consumed, removed: false };
}

function ofGroup(msg: MLSMessage, state: ClientState): boolean {
  const gid = state.groupContext.groupId;
  if (msg.wireformat === "mls_public_message") return bytesEqual(msg.publicMessage.content.groupId, gid);
  if (msg.wireformat === "mls_private_message") return bytesEqual(msg.privateMessage.groupId, gid);
  return false;
}

/**
 * The leaf that sent an application message ts-mls accepted (so its signature verified under that leaf's key).
 * ts-mls 1.6.4's processMessage does not return the sender of an application message, so the sender data is
 * decrypted once more with the epoch's sender-data secret (this touches no message key).
 */
async function privateSender(state: ClientState, msg: MLSMessage & { wireformat: "mls_private_message" }): Promise<Leaf | null> {
  const pm = msg.privateMessage;
  const epoch = pm.epoch === state.groupContext.epoch ? state : state.historicalReceiverData.get(pm.epoch);
  if (!epoch) return null;
  const secret = "keySchedule" in epoch ? epoch.keySchedule.senderDataSecret : epoch.senderDataSecret;
  const data = await decryptSenderData(pm, secret, await suite());
  return data ? leafAt(epoch.ratchetTree, data.leafIndex) : null;
}
