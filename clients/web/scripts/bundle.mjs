// esbuild options shared by the page build (build-page.mjs), the size report (size.mjs) and the browser bench: one
// place decides what "the page bundle" and "the SDK bundle" are, so the sizes printed are those of what is shipped.

import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
export const PAGE_DIR = join(WEB_DIR, "page");
export const SRC_DIR = join(WEB_DIR, "src");
export const DIST_PAGE_DIR = join(WEB_DIR, "dist-page");

/** Files of page/ copied as they are next to the bundles. */
export const PAGE_STATIC_FILES = ["index.html", "favicon.svg"];

const common = {
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  legalComments: "none",
  logLevel: "silent",
  absWorkingDir: WEB_DIR, // metafile paths are then relative to clients/web
};

/**
 * The page: app.ts (with the SDK sources it imports) -> app.js, app.css -> app.css. With splitting, the group chats
 * (page/groups/groups.ts, imported dynamically) become groups.js with ts-mls in it, loaded only when used; code both
 * halves use goes into a shared chunk.
 */
export function pageOptions(overrides = {}) {
  return {
    ...common,
    splitting: true,
    entryNames: "[name]",
    chunkNames: "chunk-[hash]",
    entryPoints: [
      { in: join(PAGE_DIR, "app.ts"), out: "app" },
      { in: join(PAGE_DIR, "groups", "groups.ts"), out: "groups" },
      { in: join(PAGE_DIR, "app.css"), out: "app" },
    ],
    outdir: DIST_PAGE_DIR,
    ...overrides,
  };
}

/** The SDK without MLS (src/core.ts, which index.ts re-exports with MLS), all exports kept, so tree shaking cannot
 * make it look smaller than what an app may use. */
export function sdkOptions(overrides = {}) {
  return {
    ...common,
    entryPoints: [join(SRC_DIR, "core.ts")],
    write: false,
    outfile: "sdk.js",
    ...overrides,
  };
}

/** bench/mls-core.mjs for the browser (bench/mls-browser.mjs), with the SDK's stores for the devices. */
export function mlsBenchOptions(overrides = {}) {
  return {
    ...common,
    stdin: {
      contents: 'export { describeFigures, mlsFigures } from "./mls-core.mjs";\nexport { MemoryKvStore, openIndexedDbKvStore } from "../dist/index.js";\n',
      resolveDir: join(WEB_DIR, "bench"),
      sourcefile: "mls-bench-entry.mjs",
      loader: "js",
    },
    write: false,
    outfile: "mls-bench.js",
    ...overrides,
  };
}

/**
 * The page's JS outputs by when a browser loads them, from an esbuild metafile of pageOptions: `eager` (app.js and
 * the chunks it imports statically: the 1:1 chat), `mls` (groups.js and the chunks only it imports statically: when
 * group chats open) and `onDemand` (chunks imported dynamically by ts-mls, only when an algorithm needs one).
 */
export function pageChunks(metafile) {
  const outputs = new Map(Object.entries(metafile.outputs).map(([p, o]) => [basename(p), o]));
  const closure = (name, seen = new Set()) => {
    if (seen.has(name)) return seen;
    seen.add(name);
    for (const i of outputs.get(name).imports) if (i.kind === "import-statement") closure(basename(i.path), seen);
    return seen;
  };
  const eager = closure("app.js");
  const mls = new Set([...closure("groups.js")].filter((n) => !eager.has(n)));
  const onDemand = new Set([...outputs.keys()].filter((n) => n.endsWith(".js") && !eager.has(n) && !mls.has(n)));
  return { eager, mls, onDemand, outputs };
}
