// Typed errors of the MLS layer. Server refusals stay the SDK's ApiError (with the server's code) and bad caller
// arguments its InputError; MlsError is for what the MLS layer itself refuses or cannot do, so a UI can tell "the
// server offered a device nobody certified" from "the network is down".

export type MlsErrorCode =
  /** A device that is not certified by an identity key this device trusts (a ghost): nothing was changed. */
  | "untrusted_device"
  /** This device holds no state for the group (never joined, left, or removed). */
  | "not_in_group"
  /** The store holds no MLS device for this user (call init or request first). */
  | "no_device"
  /** The store already holds an MLS device for this user. */
  | "device_exists"
  /** The stored state cannot be read (damaged, or written by another version). */
  | "invalid_state"
  /** A Welcome for none of this device's key packages (their private halves are not in the store). */
  | "unknown_key_package"
  /** The server answered something that is not what the protocol says (bad base64, wrong MLS message kind). */
  | "invalid_response"
  /** The client core refused an operation (e.g. a commit it cannot build). */
  | "mls_failure"
  /** The client core (WebAssembly) could not be loaded. */
  | "core_unavailable";

export class MlsError extends Error {
  override name = "MlsError";
  constructor(
    readonly code: MlsErrorCode,
    /** A short reason for debugging; never contains key material or plaintext. */
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}
