// The MLS routes of docs/openapi.yaml (devices, key packages, groups, the group log, the Welcome inbox) and their
// wire types, on the SDK's ApiClient: one method per route, the same errors (ApiError with the server's code).

import { type ApiClient } from "../api.js";

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
}
export interface DeviceList { userId: string; devices: DeviceView[] }
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
  approveDevice(deviceId: string, certificate: DeviceCertificate): Promise<DeviceView> {
    return this.#data("POST", "/api/devices/approve", { deviceId, certificate });
  }
  /** `GET /api/devices/{userId}`: the user's pending and active devices with their certificates. */
  listDevices(userId: string): Promise<DeviceList> {
    return this.#data("GET", `/api/devices/${seg(userId)}`);
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
