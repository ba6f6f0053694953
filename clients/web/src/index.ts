// Public API of @e2ee/web-sdk: everything of core.ts (envelopes, keys, the API client, pins, the 1:1 session,
// device storage, key backups) and the MLS groups of src/mls/.

export * from "./core.js";

// The store encrypting the MLS state at rest (sealed.ts; its data key, sealedkey.ts, is in core.ts)
export { SealedKvStore, openSealedStore, isSealedRecord, mlsPrefix, type SealedRecord, type OpenSealedOptions } from "./sealed.js";

// ---------------------------------------------------------------------------------------------------------------
// MLS groups (src/mls/): devices certified by the identity key, key packages, groups; every MLS decision is the
// client core's, in WebAssembly (src/mls/core.ts, docs/mls.md)
// ---------------------------------------------------------------------------------------------------------------
export {
  MlsDevice,
  revokeDeviceBody,
  type MlsDeviceOptions,
  type DeviceReport,
  type ListedDevice,
} from "./mls/device.js";
export {
  UPDATE_AFTER_MESSAGES,
  UPDATE_AFTER_MS,
  type GroupReport,
  type GroupReadReport,
  type LeaveReport,
  type MemberView,
} from "./mls/groups.js";
export { type SyncReport } from "./mls/join.js";
export { KEY_PACKAGE_BATCH, KEY_PACKAGE_LOW } from "./mls/keypackages.js";
export { COMMIT_ATTEMPTS } from "./mls/commit.js";
export { MlsError, type MlsErrorCode } from "./mls/errors.js";
export { loadCore, setCoreSource, type CoreSource } from "./mls/core.js";
export {
  deviceCertInput,
  deviceSessionInput,
  deviceRevokeInput,
  deviceFingerprint,
  isDeviceId,
  type DeviceStatement,
} from "./mls/statements.js";
export { type GroupMessage, type GroupMessageStatus, MAX_KEPT_MESSAGES } from "./mls/store.js";
export {
  MlsApi,
  MAX_DEVICE_PAGES,
  type DeviceList,
  type RevokeDeviceBody,
  type DeviceView,
  type DeviceCertificate,
  type DeviceStatus,
  type KeyPackageSupply,
  type GroupLogEntry,
  type GroupLogPage,
  type WelcomeView,
} from "./mls/api.js";
