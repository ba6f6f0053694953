// This device's MLS state in a KvStore (src/kv.ts): the device's signature key, the private halves of its key
// packages, and per group the ts-mls state with what this device tracks (log position, leaf-update counters, the
// messages read). Everything is written after every change, each group as ONE value (state and position together,
// so a crash never leaves them apart); what MLS deletes (an old epoch's secrets, a used message key, a consumed key
// package) is gone once the new value replaces the old one. The page (and any app that keeps this state on disk)
// gives it a SealedKvStore (src/sealed.ts), so the records are encrypted at rest; the MLS code does not know.

import { type ClientState } from "ts-mls";
import { type KvStore } from "../kv.js";
import { mlsPrefix } from "../sealed.js";
import { MlsError } from "./errors.js";
import { decodeState, encodeState, type SignatureKeys } from "./suite.js";

const VERSION = 1;

export interface DeviceRecord {
  version: typeof VERSION;
  userId: string;
  deviceId: string;
  /** Ed25519 public key (32 bytes) and seed (32 bytes). */
  keys: SignatureKeys;
  createdAt: number;
}

export interface StoredKeyPackage {
  ref: string;
  /** Base64 MLSMessage of the public package, as uploaded. */
  encoded: string;
  initPrivateKey: Uint8Array;
  hpkePrivateKey: Uint8Array;
  lastResort: boolean;
  /** Seconds since the epoch. */
  notAfter: number;
}

export type GroupMessageStatus = "ok" | "failed" | "left";

/** One message of a group as this device read (or sent) it; field names as the Rust client's JSON. */
export interface GroupMessage {
  seq: number;
  /** The sender's username as this device knows it (pinned or looked up), else the user id. */
  sender: string;
  senderUserId: string;
  senderDevice: string;
  text?: string;
  epoch: number;
  status: GroupMessageStatus;
  reason?: string;
}

export interface GroupMeta {
  name?: string;
  /** The last log position processed; null: from the start of what this device may read. */
  after: number | null;
  /** Application messages sent since this device's last leaf update. */
  sentSinceUpdate: number;
  /** When this device last updated its leaf (or joined), ms. */
  updatedAt: number;
  /** Read and sent messages, oldest first, at most MAX_KEPT_MESSAGES (MLS cannot decrypt a message twice). */
  messages: GroupMessage[];
  /** Users whose device asked in a `leave` message to be removed, until this device committed or saw it. */
  leaveRequests: string[];
}

export const MAX_KEPT_MESSAGES = 1000;

interface GroupRecord {
  version: typeof VERSION;
  state: Uint8Array;
  meta: GroupMeta;
}

export interface LoadedGroup {
  state: ClientState;
  meta: GroupMeta;
}

/** The records of one user's device in a KvStore, under `mls/<userId>/`. */
export class DeviceStore {
  readonly #kv: KvStore;
  readonly #prefix: string;

  constructor(kv: KvStore, userId: string) {
    this.#kv = kv;
    this.#prefix = mlsPrefix(userId);
  }

  #key(kind: "device" | "kp" | "group", id = ""): string {
    return kind === "device" ? `${this.#prefix}device` : `${this.#prefix}${kind}/${id}`;
  }

  async loadDevice(): Promise<DeviceRecord | undefined> {
    const rec = await this.#kv.get<DeviceRecord>(this.#key("device"));
    if (rec !== undefined && (rec.version !== VERSION || !(rec.keys?.signKey instanceof Uint8Array))) {
      throw new MlsError("invalid_state", "the stored MLS device is damaged or of another version");
    }
    return rec;
  }
  saveDevice(rec: DeviceRecord): Promise<void> {
    return this.#kv.put(this.#key("device"), rec);
  }
  deleteDevice(): Promise<void> {
    return this.#kv.delete(this.#key("device"));
  }

  async putKeyPackages(kps: StoredKeyPackage[]): Promise<void> {
    for (const kp of kps) await this.#kv.put(this.#key("kp", kp.ref), kp);
  }
  getKeyPackage(ref: string): Promise<StoredKeyPackage | undefined> {
    return this.#kv.get<StoredKeyPackage>(this.#key("kp", ref));
  }
  deleteKeyPackage(ref: string): Promise<void> {
    return this.#kv.delete(this.#key("kp", ref));
  }
  /** Deletes the private halves of packages that expired (nobody can be handed them any more). */
  async pruneKeyPackages(nowSeconds: number): Promise<void> {
    for (const key of await this.#kv.keys(this.#key("kp"))) {
      const kp = await this.#kv.get<StoredKeyPackage>(key);
      if (kp && kp.notAfter <= nowSeconds) await this.#kv.delete(key);
    }
  }

  async loadGroup(groupId: string): Promise<LoadedGroup | undefined> {
    const rec = await this.#kv.get<GroupRecord>(this.#key("group", groupId));
    if (rec === undefined) return undefined;
    if (rec.version !== VERSION || !(rec.state instanceof Uint8Array)) throw new MlsError("invalid_state", `the stored group ${groupId} is damaged`);
    return { state: decodeState(rec.state), meta: rec.meta };
  }
  async saveGroup(groupId: string, state: ClientState, meta: GroupMeta): Promise<void> {
    const rec: GroupRecord = { version: VERSION, state: encodeState(state), meta };
    await this.#kv.put(this.#key("group", groupId), rec);
  }
  deleteGroup(groupId: string): Promise<void> {
    return this.#kv.delete(this.#key("group", groupId));
  }
  async groupIds(): Promise<string[]> {
    const prefix = this.#key("group");
    return (await this.#kv.keys(prefix)).map((k) => k.slice(prefix.length));
  }
}

/** Keeps a message (oldest dropped beyond MAX_KEPT_MESSAGES). */
export function recordMessage(meta: GroupMeta, m: GroupMessage): void {
  meta.messages.push(m);
  if (meta.messages.length > MAX_KEPT_MESSAGES) meta.messages.splice(0, meta.messages.length - MAX_KEPT_MESSAGES);
}
