// The WebAssembly build of the client core (scripts/build-wasm.sh → clients/web/wasm/), loaded in Node. A missing
// build fails the tests that need it (the README's test command builds it first); it never skips them.

import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
export const WEB_DIR = join(HERE, "..", "..");
export const REPO = join(WEB_DIR, "..", "..");
export const WASM_DIR = join(WEB_DIR, "wasm");
export const WASM_FILE = join(WASM_DIR, "e2ee_client_wasm_bg.wasm");
export const VECTORS_DIR = join(REPO, "tests", "vectors", "client");

/** The initialized module, and how long loading + instantiating took (ms). */
export async function loadCore() {
  const glue = join(WASM_DIR, "e2ee_client_wasm.js");
  if (!existsSync(glue) || !existsSync(WASM_FILE)) {
    throw new Error(`no WebAssembly build in ${WASM_DIR}: run scripts/build-wasm.sh`);
  }
  const core = await import(glue);
  const start = performance.now();
  await core.default({ module_or_path: readFileSync(WASM_FILE) });
  return { core, loadMs: performance.now() - start };
}

/** Every scenario of tests/vectors/client/, parsed: [{file, scenario}]. */
export function scenarios() {
  return readdirSync(VECTORS_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((file) => ({ file, scenario: JSON.parse(readFileSync(join(VECTORS_DIR, file), "utf8")) }));
}
