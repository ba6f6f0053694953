// The MLS routes of docs/openapi.yaml (devices, key packages, groups, the group log, the Welcome inbox) and their
// wire types, on the SDK's ApiClient: one method per route, the same errors (ApiError with the server's code).

import { type ApiClient, ResponseError } from "../api.js";

// ---------------------------------------------------------------------------------------------------------------
// Wire types
// ---------------------------------------------------------------------------------------------------------------

export interface DeviceCertificate {
  issuerKeyId: string;
  /** The statement's createdAt (ms). */
  issuedAt: number;
  /** Base64 RSA-PSS signature. */
  signature: string;
}
export type DeviceStatus = "pending" | "active" | "revoked";
export interface DeviceView {
  userId: string;
  deviceId: string;
  displayName: string;
  /** Base64 raw MLS signature public key. */
  signatureKey: string;
  status: DeviceStatus;
  certificate: DeviceCertificate | null;
  createdAt: number;
  approvedAt: number | null;
  revokedAt: number | null;
  /** Base64 link proof of the approval (docs/mls.md, "Linking a device"); absent without one. */
  linkProof?: string;
}
/** One page of `GET /api/devices/{userId}`; `nextAfter` (the page's last device id) is there while more follow. */
export interface DeviceList { userId: string; devices: DeviceView[]; nextAfter?: string }
/** `POST /api/devices/revoke`: exactly one of `authorization` (by the active identity key) and `password`. */
export interface RevokeDeviceBody {
  deviceId: string;
  createdAt: number;
  authorization?: { keyId: string; signature: string };
  password?: string;
}
export interface RegisterDeviceBody { deviceId: string; displayName: string; signatureKey: string; certificate?: DeviceCertificate }
export interface DeviceSessionResponse { token: string; tokenType: "Bearer"; expiresAt: number; userId: string; deviceId: string }
export interface KeyPackageSupply { oneTime: number; lastResort: boolean }
export interface ClaimedKeyPackage { deviceId: string; keyPackage: string; lastResort: boolean }
export interface ClaimKeyPackagesResponse { userId: string; keyPackages: ClaimedKeyPackage[] }
export interface GroupMemberView { userId: string; deviceId: string }
export interface GroupView { groupId: string; epoch: number; seq: number; members: GroupMemberView[]; groupInfo: string; ratchetTree: string }
export interface CommitBundle { commit: string; welcome?: string; groupInfo: string }
export type GroupLogKind = "create" | "commit" | "application";
export interface GroupLogEntry {
  seq: number;
  kind: GroupLogKind;
  epoch: number;
  senderUserId: string;
  senderDeviceId: string;
  clientMessageId?: string;
  /** Base64 commit (PublicMessage) or application message (PrivateMessage); empty for the creation row. */
  message: string;
  createdAt: number;
}
export interface GroupLogPage { groupId: string; entries: GroupLogEntry[]; nextAfter: number | null }
export interface WelcomeView { groupId: string; epoch: number; welcome: string; createdAt: number }
/** One page of the Welcome inbox; `nextAfter` continues (absent at the end). */
export interface WelcomeList { welcomes: WelcomeView[]; nextAfter?: string }
export interface AckWelcomeResponse { groupId: string; epoch: number; acknowledged: boolean }

/** The most log rows one page may read (the server's MAX_PAGE_SIZE). */
export const LOG_PAGE_LIMIT = 100;
/** The most pages `listDevices` follows (100,000 devices at the server's 100 a page): a server that pages forever is
 * an error, not a hang. */
export const MAX_DEVICE_PAGES = 1000;

const seg = encodeURIComponent;

// ---------------------------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------------------------

/** The MLS routes over one ApiClient: user-token routes (register, session) or a device-token client for the rest. */
export class MlsApi {
  constructor(readonly api: ApiClient) {}

  async #data<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.api.request<T>(method, path, body)).data;
  }

  /** `POST /api/devices` (user token). */
  registerDevice(body: RegisterDeviceBody): Promise<DeviceView> {
    return this.#data("POST", "/api/devices", body);
  }
  /** `POST /api/devices/session` (user token): a device token. */
  deviceSession(body: { deviceId: string; createdAt: number; signature: string }): Promise<DeviceSessionResponse> {
    return this.#data("POST", "/api/devices/session", body);
  }
  /** `POST /api/devices/approve` (device token of an active device of the same user). */
  approveDevice(deviceId: string, certificate: DeviceCertificate, linkProof?: string): Promise<DeviceView> {
    return this.#data("POST", "/api/devices/approve", { deviceId, certificate, ...(linkProof === undefined ? {} : { linkProof }) });
  }
  /** `POST /api/devices/revoke` (user or device token): authorized by the identity key or the password. */
  revokeDevice(body: RevokeDeviceBody): Promise<DeviceView> {
    return this.#data("POST", "/api/devices/revoke", body);
  }
  /** `GET /api/devices/{userId}?after=`: one page of the user's pending and active devices. */
  listDevicesPage(userId: string, after?: string): Promise<DeviceList> {
    const q = after === undefined ? "" : `?${new URLSearchParams({ after })}`;
    return this.#data("GET", `/api/devices/${seg(userId)}${q}`);
  }
  /** `GET /api/devices/{userId}`, every page (following `nextAfter`, at most MAX_DEVICE_PAGES pages, never the same
   * position twice): the user's pending and active devices with their certificates, oldest first. */
  async listDevices(userId: string): Promise<DeviceList> {
    const first = await this.listDevicesPage(userId);
    const devices = [...first.devices];
    const seen = new Set<string>();
    let after = first.nextAfter;
    for (let pages = 1; after !== undefined && after !== null; pages++) {
      if (pages >= MAX_DEVICE_PAGES || seen.has(after)) throw new ResponseError(`the device list of ${userId} does not end (page ${pages}, after ${after})`);
      seen.add(after);
      const page = await this.listDevicesPage(userId, after);
      devices.push(...page.devices);
      after = page.nextAfter;
    }
    return { userId: first.userId, devices };
  }
  uploadKeyPackages(keyPackages: string[]): Promise<KeyPackageSupply> {
    return this.#data("POST", "/api/key-packages", { keyPackages });
  }
  keyPackageSupply(): Promise<KeyPackageSupply> {
    return this.#data("GET", "/api/key-packages/supply");
  }
  claimKeyPackages(userId: string): Promise<ClaimKeyPackagesResponse> {
    return this.#data("POST", "/api/key-packages/claim", { userId });
  }
  createGroup(groupInfo: string, ratchetTree: string): Promise<GroupView> {
    return this.#data("POST", "/api/groups", { groupInfo, ratchetTree });
  }
  /** `GET /api/groups/{groupId}`: the group as the server has it now (epoch, members, GroupInfo, ratchet tree). */
  group(groupId: string): Promise<GroupView> {
    return this.#data("GET", `/api/groups/${seg(groupId)}`);
  }
  postCommit(groupId: string, bundle: CommitBundle): Promise<GroupLogEntry> {
    return this.#data("POST", `/api/groups/${seg(groupId)}/commits`, bundle);
  }
  postMessage(groupId: string, clientMessageId: string, message: string): Promise<GroupLogEntry> {
    return this.#data("POST", `/api/groups/${seg(groupId)}/messages`, { clientMessageId, message });
  }
  groupLog(groupId: string, after: number | null): Promise<GroupLogPage> {
    const q = new URLSearchParams({ limit: String(LOG_PAGE_LIMIT) });
    if (after !== null) q.set("after", String(after));
    return this.#data("GET", `/api/groups/${seg(groupId)}/log?${q}`);
  }
  welcomes(after: string | null = null): Promise<WelcomeList> {
    const q = after === null ? "" : `?${new URLSearchParams({ after })}`;
    return this.#data("GET", `/api/welcomes${q}`);
  }
  ackWelcome(groupId: string, epoch: number): Promise<AckWelcomeResponse> {
    return this.#data("POST", "/api/welcomes/ack", { groupId, epoch });
  }
}
