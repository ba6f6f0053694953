// This user's MLS device (clients/sdk/src/device/mls_devices.rs): the first device certified by the identity key
// (init), a later device registered pending (request) and approved from a device holding the identity key
// (approve), device tokens, the device directory with trust flags, and MlsDevice — the object an application holds,
// which runs the group operations one at a time over one KvStore. The device's keys and groups live in the client
// core (core.ts, WebAssembly); this is the driver that fetches, saves and signs with the identity key (WebCrypto).

import { ApiClient, ResponseError, type UserInfo } from "../api.js";
import { fromBase64Strict } from "../bytes.js";
import { InputError } from "../errors.js";
import { pssSign } from "../keygen.js";
import { type KeyPair } from "../keys.js";
import { type KvStore } from "../kv.js";
import { type Session } from "../session.js";
import { type DeviceCertificate, type DeviceStatus, type GroupLogEntry, type KeyPackageSupply, MlsApi, type RevokeDeviceBody } from "./api.js";
import { type DeviceContext, checkGroupId } from "./context.js";
import { CoreDevice, core, linkProof, loadCore } from "./core.js";
import { MlsError } from "./errors.js";
import * as groups from "./groups.js";
import { sync, type SyncReport } from "./join.js";
import { topUpKeyPackages } from "./keypackages.js";
import { deviceCertInput, deviceFingerprint, deviceRevokeInput, isDeviceId } from "./statements.js";
import { type DeviceRecord, DeviceStore, type GroupMessage } from "./store.js";
import { TrustSession } from "./trust.js";

/** A device token is renewed this long before it expires. */
const TOKEN_MARGIN_MS = 30_000;

export interface MlsDeviceOptions {
  /** The logged-in user, with its pins and (for init and approve) its identity key (`session.key`). */
  session: Session;
  /** Where the device's keys and groups live (IndexedDB in a browser, MemoryKvStore in tests). One MlsDevice per store. */
  kv: KvStore;
  /** The fetch of the device-token client (defaults to globalThis.fetch; pass the one the session's ApiClient uses). */
  fetch?: typeof fetch;
  /** This user's username, for the reports of its own messages and devices. */
  username?: string;
}

export interface DeviceReport {
  userId: string;
  deviceId: string;
  status: DeviceStatus;
  /** SHA-256 of the device's signature key, hex in groups of four: what a user compares when approving it. */
  fingerprint: string;
  keyPackages: number;
  lastResort: boolean;
  /** A device set up by `request`: the link code it shows, which the approving device is given
   * (`approve({deviceId, code})`), so that this device learns its user's identity key from the approval. */
  linkCode?: string;
}

export interface ListedDevice {
  deviceId: string;
  displayName: string;
  status: DeviceStatus;
  fingerprint: string;
  /** Certified by an identity key this device trusts for the user. */
  trusted: boolean;
}

/** A certificate by `identity` of the statement `input(issuedAt)` (built by the core for this device, or by
 * deviceCertInput for a pending device being approved). */
async function certify(identity: KeyPair, input: (issuedAt: number) => Uint8Array): Promise<DeviceCertificate> {
  const issuedAt = Date.now();
  return { issuerKeyId: identity.keyId, issuedAt, signature: await pssSign(identity.signKey, input(issuedAt)) };
}

/** A `POST /api/devices/revoke` body for `userId`'s device `deviceId`, signed now by `identity` (the user's active
 * identity key; RSA-PSS over deviceRevokeInput, docs/security.md). */
export async function revokeDeviceBody(identity: KeyPair, userId: string, deviceId: string, createdAt: number = Date.now()): Promise<RevokeDeviceBody> {
  const signature = await pssSign(identity.signKey, deviceRevokeInput(userId, deviceId, createdAt));
  return { deviceId, createdAt, authorization: { keyId: identity.keyId, signature } };
}

function identityKey(session: Session): KeyPair {
  if (!session.key) throw new InputError("invalid_input", "the session has no identity key: call registerKey or useKey first");
  return session.key;
}

export class MlsDevice {
  readonly session: Session;
  readonly userId: string;
  readonly deviceId: string;
  readonly #record: DeviceRecord;
  readonly #store: DeviceStore;
  /** The core holding the state as last saved (replaced by a reload from the store when an operation fails). */
  #core: CoreDevice;
  readonly #userApi: MlsApi;
  readonly #deviceClient: ApiClient;
  readonly #api: MlsApi;
  readonly #names = new Map<string, string>();
  #tokenExpiresAt = 0;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(opts: MlsDeviceOptions, record: DeviceRecord, store: DeviceStore, coreDevice: CoreDevice) {
    this.session = opts.session;
    this.userId = record.userId;
    this.deviceId = record.deviceId;
    this.#record = record;
    this.#store = store;
    this.#core = coreDevice;
    this.#userApi = new MlsApi(opts.session.api);
    // Device-scoped routes refuse user tokens, so the device token lives in a client of its own; a 401 (expired or
    // revoked token) asks for a new one once, through the user session (whose own hook may log in again).
    this.#deviceClient = new ApiClient({
      baseUrl: opts.session.api.baseUrl,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      onUnauthorized: () => this.#renewToken(),
    });
    this.#api = new MlsApi(this.#deviceClient);
    if (opts.username !== undefined) this.#names.set(record.userId, opts.username);
  }

  /** The account's first device, certified by the session's identity key, with 50 + 1 key packages uploaded. */
  static async init(opts: MlsDeviceOptions & { deviceId: string; displayName?: string }): Promise<{ device: MlsDevice; report: DeviceReport }> {
    const identity = identityKey(opts.session);
    const { device, status } = await MlsDevice.#register(opts, async (coreDevice) =>
      certify(identity, (issuedAt) => core(() => coreDevice.certificateInput(identity.keyId, issuedAt))),
    );
    const supply = await device.topUpKeyPackages();
    return { device, report: await device.#report(status, supply) };
  }

  /** A new, pending device of the account (this device holds no identity key): approve it on one that does, given
   * the report's `linkCode` (review N10: the approval then proves the identity key to this device); its next sync
   * after that uploads key packages. */
  static async request(opts: MlsDeviceOptions & { deviceId: string; displayName?: string }): Promise<{ device: MlsDevice; report: DeviceReport }> {
    const { device, status } = await MlsDevice.#register(opts, async (coreDevice) => {
      core(() => coreDevice.startLink());
      return undefined;
    });
    const linkCode = device.linkCode();
    return { device, report: { ...(await device.#report(status, { oneTime: 0, lastResort: false })), ...(linkCode ? { linkCode } : {}) } };
  }

  /** The link code of a device set up by `request` (what its approver types), or undefined. */
  linkCode(): string | undefined {
    return core(() => this.#core.linkCode());
  }

  /** The device saved in the store for the session's user (a reload: a new process over the same store). */
  static async open(opts: MlsDeviceOptions): Promise<MlsDevice> {
    const store = new DeviceStore(opts.kv, opts.session.userId);
    const record = await store.load();
    if (!record) throw new MlsError("no_device", "the store holds no MLS device for this user");
    await loadCore();
    const coreDevice = core(() => CoreDevice.load(record.state));
    if (coreDevice.userId !== record.userId || coreDevice.deviceId !== record.deviceId) {
      coreDevice.free();
      throw new MlsError("invalid_state", "the stored MLS device is of another device than its record says");
    }
    return new MlsDevice(opts, record, store, coreDevice);
  }

  /** A fresh signature key, saved BEFORE the server learns it (a registered device whose key was lost could not be
   * used nor registered again under its id), then registered; the saved device is deleted again if that fails. */
  static async #register(
    opts: MlsDeviceOptions & { deviceId: string; displayName?: string },
    certificate: (coreDevice: CoreDevice) => Promise<DeviceCertificate | undefined>,
  ): Promise<{ device: MlsDevice; status: DeviceStatus }> {
    if (!isDeviceId(opts.deviceId)) throw new InputError("invalid_input", "deviceId must be 1 to 64 of A-Z a-z 0-9 _ -");
    const displayName = opts.displayName ?? opts.deviceId;
    const store = new DeviceStore(opts.kv, opts.session.userId);
    if (await store.load()) throw new MlsError("device_exists", "the store already holds an MLS device for this user");
    await loadCore();
    const coreDevice = core(() => CoreDevice.create(opts.session.userId, opts.deviceId));
    let status: DeviceStatus;
    let record: DeviceRecord;
    try {
      const cert = await certificate(coreDevice);
      record = { version: 2, userId: opts.session.userId, deviceId: opts.deviceId, createdAt: Date.now(), state: coreDevice.save() };
      await store.save(record);
      const body = { deviceId: opts.deviceId, displayName, signatureKey: coreDevice.signatureKey, ...(cert ? { certificate: cert } : {}) };
      try {
        const view = await new MlsApi(opts.session.api).registerDevice(body);
        if (view.deviceId !== opts.deviceId || view.userId !== opts.session.userId) throw new ResponseError("the server registered another device");
        status = view.status;
      } catch (e) {
        await store.delete();
        throw e;
      }
    } catch (e) {
      coreDevice.free();
      throw e;
    }
    return { device: new MlsDevice(opts, record, store, coreDevice), status };
  }

  async #report(status: DeviceStatus, supply: KeyPackageSupply): Promise<DeviceReport> {
    return {
      userId: this.userId,
      deviceId: this.deviceId,
      status,
      fingerprint: await this.fingerprint(),
      keyPackages: supply.oneTime,
      lastResort: supply.lastResort,
    };
  }

  /** This device's status in the server's directory, asked with the user token (so also while it is pending, when it
   * cannot get a device token); the directory does not list revoked devices, so one it does not list is `revoked`. */
  async status(): Promise<DeviceStatus> {
    const listed = (await this.#userApi.listDevices(this.userId)).devices.find((d) => d.deviceId === this.deviceId);
    return listed?.status ?? "revoked";
  }

  /** This device's fingerprint (what the approving device shows). */
  fingerprint(): Promise<string> {
    return deviceFingerprint(fromBase64Strict(this.#core.signatureKey) ?? new Uint8Array());
  }

  /** A device token for this run: signed with the device key (raw Ed25519 over the session statement), asked for
   * with the user session. */
  async #renewToken(): Promise<string> {
    const createdAt = Date.now();
    const signature = core(() => this.#core.sessionProof(createdAt));
    const r = await this.#userApi.deviceSession({ deviceId: this.deviceId, createdAt, signature });
    if (r.userId !== this.userId || r.deviceId !== this.deviceId) throw new ResponseError("the server issued a token for another device");
    this.#deviceClient.setToken(r.token);
    this.#tokenExpiresAt = r.expiresAt;
    return r.token;
  }

  /** Runs `op` after the previous operations (one at a time: they read and write the same state), with a fresh
   * trust and, when `online`, a valid device token. An operation that fails leaves the core as it was last saved
   * (reloaded from the store: what it changed and did not save is not kept in memory either). */
  #run<T>(op: (ctx: DeviceContext) => Promise<T> | T, online = true): Promise<T> {
    const run = this.#queue.then(async () => {
      if (online && (!this.#deviceClient.hasToken || this.#tokenExpiresAt - Date.now() < TOKEN_MARGIN_MS)) await this.#renewToken();
      const trust = new TrustSession(this.session, this.#api, this.#names, (devices, keyListing) => this.#core.linkedOwnKey(devices, keyListing));
      try {
        return await op({
          session: this.session,
          store: this.#store,
          record: this.#record,
          core: this.#core,
          api: this.#api,
          me: { userId: this.userId, deviceId: this.deviceId },
          trust,
          names: this.#names,
        });
      } catch (e) {
        // The operation's own error is what the caller needs; a store that cannot be read now says so next time.
        await this.#reload().catch(() => undefined);
        throw e;
      } finally {
        trust.free();
      }
    });
    // The next operation waits for this one however it ends; its caller still gets the rejection through `run`.
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reload(): Promise<void> {
    const saved = await this.#store.load();
    if (!saved) return;
    const fresh = core(() => CoreDevice.load(saved.state));
    this.#core.free();
    this.#core = fresh;
    this.#record.state = saved.state;
  }

  /** Looks a user up by name (Session.lookup: pinned both ways on first use); the name then labels the user's
   * members and messages, and binds into the user's key pin when this device pins it. Returns the user id with it. */
  async lookup(username: string): Promise<UserInfo> {
    const user = await this.session.lookup(username);
    this.#names.set(user.userId, user.username);
    return user;
  }

  /**
   * Certifies pending devices of this user with the session's identity key. Without `deviceId` and without `all`
   * nothing is approved: the pending devices are listed with their fingerprints, to compare with what the new device
   * shows. With `code` (the link code the new device shows; with `deviceId` only) the code is checked against that
   * device first — a code of another device or key approves nothing — and the approval carries the link proof from
   * which the new device learns this user's identity key. Approved devices join this user's groups on this device's
   * next sync (once they uploaded key packages).
   */
  approve(opts: { deviceId?: string; all?: boolean; code?: string } = {}): Promise<DeviceReport[]> {
    return this.#run(async (ctx) => {
      if (opts.code !== undefined && (opts.deviceId === undefined || opts.all)) throw new InputError("invalid_input", "a link code approves one device: give its deviceId");
      const identity = identityKey(this.session);
      const pending = (await ctx.api.listDevices(this.userId)).devices.filter(
        (d) => d.status === "pending" && (opts.all || opts.deviceId === undefined || d.deviceId === opts.deviceId),
      );
      if (opts.deviceId !== undefined && pending.length === 0) throw new InputError("invalid_input", `no pending device ${opts.deviceId}`);
      const out: DeviceReport[] = [];
      for (const d of pending) {
        const key = fromBase64Strict(d.signatureKey);
        if (!key) throw new ResponseError("a device key that is not base64");
        let status = d.status;
        if (opts.all || opts.deviceId !== undefined) {
          const input = (issuedAt: number) => deviceCertInput({ userId: this.userId, deviceId: d.deviceId, signatureKey: key, issuerKeyId: identity.keyId, createdAt: issuedAt });
          const certificate = await certify(identity, input);
          // Checked before anything is posted: the certificate is only signed here so far.
          const code = opts.code;
          const proof = code === undefined ? undefined : core(() => linkProof(code, this.userId, d.deviceId, d.signatureKey, JSON.stringify(certificate)));
          status = (await ctx.api.approveDevice(d.deviceId, certificate, proof)).status;
        }
        out.push({ userId: this.userId, deviceId: d.deviceId, status, fingerprint: await deviceFingerprint(key), keyPackages: 0, lastResort: false });
      }
      return out;
    });
  }

  /** Revokes a device of this user (another one, or this one) in the directory, signed with the session's identity
   * key: a device token alone revokes nothing (docs/security.md). The device is final: its tokens stop working and
   * its id is never used again. Another device is then removed from every group of this one that has it (a commit
   * per group); the other members' devices remove it from the rest on their next sync. */
  revokeDevice(deviceId: string): Promise<DeviceReport> {
    return this.#run(async (ctx) => {
      if (!isDeviceId(deviceId)) throw new InputError("invalid_input", "deviceId must be 1 to 64 of A-Z a-z 0-9 _ -");
      const view = await ctx.api.revokeDevice(await revokeDeviceBody(identityKey(this.session), this.userId, deviceId));
      if (view.deviceId !== deviceId || view.userId !== this.userId) throw new ResponseError("the server revoked another device");
      if (deviceId !== this.deviceId) await groups.removeDeviceEverywhere(ctx, { userId: this.userId, deviceId });
      const key = fromBase64Strict(view.signatureKey) ?? new Uint8Array();
      return { userId: this.userId, deviceId, status: view.status, fingerprint: await deviceFingerprint(key), keyPackages: 0, lastResort: false };
    });
  }

  /** A user's devices (this user's by default), each with its fingerprint and whether this device trusts it. */
  devices(userId: string = this.userId): Promise<ListedDevice[]> {
    return this.#run(async (ctx) => {
      const decisions = await ctx.trust.devices(userId);
      const out: ListedDevice[] = [];
      for (const d of decisions.listed) {
        out.push({
          deviceId: d.deviceId,
          displayName: d.displayName,
          status: d.status,
          fingerprint: await deviceFingerprint(fromBase64Strict(d.signatureKey) ?? new Uint8Array()),
          trusted: decisions.trusted.has(d.deviceId),
        });
      }
      return out;
    });
  }

  /** Uploads key packages when the server holds fewer than 10 one-time ones or no last-resort one. */
  topUpKeyPackages(): Promise<KeyPackageSupply> {
    return this.#run(topUpKeyPackages);
  }

  /** Joins pending groups (Welcomes), acknowledges them, tops up key packages, reads every group and adds this
   * user's certified devices missing from a group. */
  sync(): Promise<SyncReport> {
    return this.#run(sync);
  }

  /** A new group with this user's devices and every certified device of `memberIds` (user ids). */
  createGroup(memberIds: readonly string[], opts: { name?: string } = {}): Promise<groups.GroupReport> {
    return this.#run((ctx) => groups.createGroup(ctx, memberIds, opts.name));
  }

  addMembers(groupId: string, userIds: readonly string[]): Promise<groups.GroupReport> {
    return this.#run((ctx) => groups.addMembers(ctx, checkGroupId(groupId), userIds));
  }

  removeMembers(groupId: string, userIds: readonly string[]): Promise<groups.GroupReport> {
    return this.#run((ctx) => groups.removeMembers(ctx, checkGroupId(groupId), userIds));
  }

  /** The group's member devices (after reading its log). */
  members(groupId: string): Promise<groups.GroupReport> {
    return this.#run((ctx) => groups.members(ctx, checkGroupId(groupId)));
  }

  /** The groups this device is in, as saved (no network). */
  groups(): Promise<groups.GroupReport[]> {
    return this.#run(groups.listGroups, false);
  }

  /** The messages this device keeps for the group (what `read({all: true})` returns), as saved (no network): e.g. to
   * show a group after a reload before its log is read, or to see messages that an add, remove or send read first. */
  messages(groupId: string): Promise<GroupMessage[]> {
    return this.#run((ctx) => groups.keptMessages(ctx, checkGroupId(groupId)), false);
  }

  send(groupId: string, text: string): Promise<GroupLogEntry> {
    return this.#run((ctx) => groups.send(ctx, checkGroupId(groupId), text));
  }

  /** The group's new messages (with `all`, every message this device read or sent in it). */
  read(groupId: string, opts: { all?: boolean } = {}): Promise<groups.GroupReadReport> {
    return this.#run((ctx) => groups.read(ctx, checkGroupId(groupId), opts.all ?? false));
  }

  /** Leaves the group on all of this user's devices (another member's device commits this one's removal). */
  leave(groupId: string): Promise<groups.LeaveReport> {
    return this.#run((ctx) => groups.leave(ctx, checkGroupId(groupId)));
  }
}
