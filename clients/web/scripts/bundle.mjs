// esbuild options shared by the page build (build-page.mjs), the size report (size.mjs) and the browser bench: one
// place decides what "the page bundle" and "the SDK bundle" are, so the sizes printed are those of what is shipped.

import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
export const PAGE_DIR = join(WEB_DIR, "page");
export const SRC_DIR = join(WEB_DIR, "src");
export const DIST_PAGE_DIR = join(WEB_DIR, "dist-page");
/** The client core's WebAssembly module (scripts/build-wasm.sh), copied next to the page's chunks: group chats load it
 * from there (page/groups/groups.ts) when they open. */
export const CORE_WASM = "e2ee_client_wasm_bg.wasm";
export const CORE_WASM_FILE = join(WEB_DIR, "wasm", CORE_WASM);

/** Files of page/ copied next to the bundles (index.html through pageFile: minified). */
export const PAGE_STATIC_FILES = ["index.html", "favicon.svg"];

/**
 * The bytes of page/<name> as the build writes them: index.html without its comments (notes for developers) and
 * without the indentation at the start of its lines (it has no <pre>, and its textareas are empty, so no shown
 * whitespace changes: a line break is still whitespace); other files as they are.
 */
export function pageFile(name) {
  const bytes = readFileSync(join(PAGE_DIR, name));
  if (name !== "index.html") return bytes;
  return Buffer.from(bytes.toString("utf8").replace(/<!--[\s\S]*?-->\n?/g, "").replace(/\n[ \t]+/g, "\n"));
}

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
 * The page: entry.ts (importing app.ts, with the SDK sources it imports) -> app.js, app.css -> app.css. With
 * splitting, the group chats (page/groups/groups.ts, imported dynamically) become groups.js with ts-mls in it,
 * loaded only when used, with the client core's glue (the module itself, CORE_WASM, is a file of its own); code both
 * halves use goes into a shared chunk. groups.ts imports app.ts as well (already
 * evaluated, so nothing runs twice), which puts the whole 1:1 page into that shared chunk: app.js is one import,
 * and the page's code is one file, which gzips ~0.4 KB smaller than the two it would otherwise be split over.
 * app.ts has side effects (it is the page), so the package's "sideEffects": false must not drop those imports.
 */
export function pageOptions(overrides = {}) {
  return {
    ...common,
    splitting: true,
    entryNames: "[name]",
    chunkNames: "chunk-[hash]",
    entryPoints: [
      { in: join(PAGE_DIR, "entry.ts"), out: "app" },
      { in: join(PAGE_DIR, "groups", "groups.ts"), out: "groups" },
      { in: join(PAGE_DIR, "app.css"), out: "app" },
    ],
    outdir: DIST_PAGE_DIR,
    plugins: [pageAppHasSideEffects],
    ...overrides,
  };
}

/** Resolves page/app.ts as a module with side effects (package.json says "sideEffects": false for the SDK). */
const pageAppHasSideEffects = {
  name: "page-app-side-effects",
  setup(build) {
    build.onResolve({ filter: /(^|\/)app\.js$/ }, (args) => {
      const path = join(args.resolveDir, args.path.replace(/\.js$/, ".ts"));
      return path === join(PAGE_DIR, "app.ts") ? { path, sideEffects: true } : undefined;
    });
  },
};

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

/** bench/mls-core.mjs for the browser (bench/mls-browser.mjs), with the SDK's stores for the devices and the way to
 * point it at the client core's module (served next to the bench page). */
export function mlsBenchOptions(overrides = {}) {
  return {
    ...common,
    stdin: {
      contents: 'export { describeFigures, mlsFigures } from "./mls-core.mjs";\nexport { MemoryKvStore, openIndexedDbKvStore, setCoreSource } from "../dist/index.js";\n',
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
 * group chats open) and `onDemand` (chunks imported only dynamically by something else: none is expected).
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
