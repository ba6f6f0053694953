// Typed errors of the device storage (idb.ts, keyring.ts, the KvPinStore): a UI can tell "the browser refused to
// store" (quota, private mode, a newer database version) from a record that is not what the SDK wrote. Also the
// per-account key prefix that the keyring and the pins share.

import { InputError } from "./errors.js";
import { checkId } from "./ids.js";

export type StorageErrorCode =
  | "storage_unavailable" // no IndexedDB here, or the browser refused to open the database
  | "storage_closed" // the store was closed (or the browser closed it)
  | "quota_exceeded"
  | "not_cloneable" // the value cannot be structured-cloned (a function, a DOM node, ...)
  | "storage_failed" // any other failed or aborted transaction
  | "corrupt_record" // a stored record does not have the shape the SDK writes (or, encrypted, does not decrypt)
  | "wrong_password"; // the password does not unlock the encrypted state stored on this device (sealed.ts)

export class StorageError extends Error {
  override name = "StorageError";
  constructor(
    readonly code: StorageErrorCode,
    /** A short reason; never contains stored values or key material. */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${detail}`, options);
  }
}

/** Map what IndexedDB or structuredClone threw (usually a DOMException) to a StorageError. */
export function storageError(e: unknown, what: string): StorageError {
  if (e instanceof StorageError) return e;
  const name = typeof e === "object" && e !== null && typeof (e as { name?: unknown }).name === "string" ? (e as Error).name : "";
  const code: StorageErrorCode =
    name === "QuotaExceededError"
      ? "quota_exceeded"
      : name === "DataCloneError"
        ? "not_cloneable"
        : name === "InvalidStateError"
          ? "storage_closed"
          : "storage_failed";
  const detail = name ? `${what} (${name})` : what;
  // A DataCloneError's own message may quote the value, so it is not kept as the cause; the others help debugging.
  return code === "not_cloneable" ? new StorageError(code, detail) : new StorageError(code, detail, { cause: e });
}

/**
 * The key prefix of one account's records in an area of a shared KvStore: `<area>/<ownerId>/`, the id
 * percent-encoded so that no id can reach into another account's records (ids may contain "/").
 */
export function ownerPrefix(area: string, ownerId: string): string {
  const problem = checkId(ownerId);
  if (problem) throw new InputError("invalid_input", `owner user id: ${problem}`);
  return `${area}/${encodeURIComponent(ownerId)}/`;
}
