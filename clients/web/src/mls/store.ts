// This device's MLS state in a KvStore (src/kv.ts): ONE record, `mls/<userId>/device`, holding the client core's
// state blob (e2ee_client_core::state: the signature key, key package private keys, every group's MLS state and
// what this device tracks of it, the messages read). It is written after every change and before anything the
// change produced is posted, so a crash never leaves the server ahead of the device; what MLS deletes (an old
// epoch's secrets, a used message key, a consumed key package) is gone once the new blob replaces the old one. The
// page (and any app that keeps this state on disk) gives it a SealedKvStore (src/sealed.ts), so the record is
// encrypted at rest; the MLS code does not know.

import { type KvStore } from "../kv.js";
import { mlsPrefix } from "../sealed.js";
import { MlsError } from "./errors.js";

/** 2: the client core's blob. (1 was the ts-mls state of earlier versions, which the core cannot read.) */
const VERSION = 2;

export interface DeviceRecord {
  version: typeof VERSION;
  userId: string;
  deviceId: string;
  createdAt: number;
  /** The core's state blob (MlsDevice.save()). */
  state: Uint8Array;
}

/** One message of a group as this device read (or sent) it; field names as the core's JSON. */
export type GroupMessageStatus = "ok" | "failed" | "left";
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

/** What the core tracks of a group (e2ee_client_core::group::GroupMeta, as JSON). */
export interface GroupMeta {
  name?: string;
  /** The last log position processed; absent: from the start of what this device may read. */
  after?: number;
  sentSinceUpdate: number;
  updatedAt: number;
  /** Read and sent messages, oldest first, at most MAX_KEPT_MESSAGES. */
  messages: GroupMessage[];
  /** Users whose device asked in a `leave` message to be removed. */
  leaveRequests?: string[];
}

/** The core keeps this many messages per group (e2ee_client_core::group::MAX_KEPT_MESSAGES). */
export const MAX_KEPT_MESSAGES = 1000;

/** The record of one user's device in a KvStore, under `mls/<userId>/`. */
export class DeviceStore {
  readonly #kv: KvStore;
  readonly #key: string;

  constructor(kv: KvStore, userId: string) {
    this.#kv = kv;
    this.#key = `${mlsPrefix(userId)}device`;
  }

  async load(): Promise<DeviceRecord | undefined> {
    const rec = await this.#kv.get<DeviceRecord | { version: number }>(this.#key);
    if (rec === undefined) return undefined;
    if (rec.version === 1) {
      throw new MlsError("invalid_state", "this browser's group device was saved by an earlier version of the SDK (ts-mls), which this one cannot read: set group chats up again here as a new device");
    }
    if (rec.version !== VERSION || !((rec as DeviceRecord).state instanceof Uint8Array)) {
      throw new MlsError("invalid_state", "the stored MLS device is damaged or of another version");
    }
    return rec as DeviceRecord;
  }
  save(rec: DeviceRecord): Promise<void> {
    return this.#kv.put(this.#key, rec);
  }
  delete(): Promise<void> {
    return this.#kv.delete(this.#key);
  }
}
