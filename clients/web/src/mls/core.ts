// The client core: clients/core (every MLS decision of this SDK: trust, Welcomes, the log, commits, lost commit
// answers) compiled to WebAssembly (clients/wasm, built by scripts/build-wasm.sh into clients/web/wasm/). This file
// loads it once, on the first MLS operation, and turns its errors into this SDK's; the rest of src/mls is the driver
// that fetches, stores and signs around it.

import init, { MlsDevice as CoreDevice, Trust, linkProof } from "../../wasm/e2ee_client_wasm.js";
import { InputError } from "../errors.js";
import { MlsError, type MlsErrorCode } from "./errors.js";

export { CoreDevice, Trust, linkProof };

/** What the module can be loaded from: its URL, its bytes, a fetch Response or a compiled module. */
export type CoreSource = URL | string | Uint8Array | ArrayBuffer | Response | WebAssembly.Module;

let source: CoreSource | undefined;
let loading: Promise<void> | undefined;

/**
 * Where the WebAssembly module comes from, set before the first MLS operation: a page that serves
 * `e2ee_client_wasm_bg.wasm` elsewhere than next to the SDK passes its URL. By default it is
 * `../../wasm/e2ee_client_wasm_bg.wasm` from this file (read from disk under Node).
 */
export function setCoreSource(from: CoreSource): void {
  if (loading) throw new InputError("invalid_input", "the client core is already loaded");
  source = from;
}

/** Loads and instantiates the module once (a failed load is tried again on the next call). */
export function loadCore(): Promise<void> {
  loading ??= (async () => {
    try {
      await init({ module_or_path: source ?? (await defaultSource()) });
    } catch (e) {
      loading = undefined;
      throw new MlsError("core_unavailable", `cannot load the client core (${e instanceof Error ? e.message : String(e)})`);
    }
  })();
  return loading;
}

async function defaultSource(): Promise<CoreSource> {
  const url = new URL("../../wasm/e2ee_client_wasm_bg.wasm", import.meta.url);
  if (url.protocol !== "file:") return url;
  // Node's fetch does not read file: URLs; its fs, reached without an import a bundler would follow.
  const node = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const fs = node?.getBuiltinModule?.("node:fs/promises") as { readFile(u: URL): Promise<Uint8Array> } | undefined;
  if (!fs) throw new Error("no way to read the module from disk here: call setCoreSource");
  return fs.readFile(url);
}

/** The core's error codes (clients/wasm/src/lib.rs) as this SDK's errors. */
const CODES: Record<string, MlsErrorCode> = {
  not_in_group: "not_in_group",
  damaged_state: "invalid_state",
  untrusted: "untrusted_device",
  mls: "mls_failure",
  out_of_order: "mls_failure",
};

/** Runs a call into the core; what it throws becomes an InputError (bad arguments) or an MlsError. */
export function core<T>(call: () => T): T {
  try {
    return call();
  } catch (e) {
    if (e instanceof MlsError || e instanceof InputError) throw e; // the driver's own, thrown inside the call
    const code = (e as { code?: unknown } | null)?.code;
    const message = e instanceof Error ? e.message : String(e);
    if (code === "invalid_input") throw new InputError("invalid_input", message);
    throw new MlsError((typeof code === "string" && CODES[code]) || "mls_failure", message);
  }
}

/** A call into the core that answers JSON, parsed. */
export function coreJson<T>(call: () => string): T {
  return JSON.parse(core(call)) as T;
}
