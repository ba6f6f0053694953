// esbuild options shared by the page build (build-page.mjs), the size report (size.mjs) and the browser bench: one
// place decides what "the page bundle" and "the SDK bundle" are, so the sizes printed are those of what is shipped.

import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
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

/** The page: app.ts (with the SDK sources it imports) -> app.js, app.css -> app.css. */
export function pageOptions(overrides = {}) {
  return {
    ...common,
    entryPoints: [
      { in: join(PAGE_DIR, "app.ts"), out: "app" },
      { in: join(PAGE_DIR, "app.css"), out: "app" },
    ],
    outdir: DIST_PAGE_DIR,
    ...overrides,
  };
}

/**
 * The SDK's envelope + API half: every module of src/ except MLS ones (and the barrel index.ts, which may
 * re-export MLS), all exports kept, so tree shaking cannot make it look smaller than what an app may use.
 */
export function sdkOptions(overrides = {}) {
  const modules = readdirSync(SRC_DIR)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && f !== "index.ts" && !/mls/i.test(f))
    .sort();
  const contents = modules.map((f) => `export * from "./${f}";`).join("\n");
  return {
    ...common,
    stdin: { contents, resolveDir: SRC_DIR, sourcefile: "sdk-entry.ts", loader: "ts" },
    write: false,
    outfile: "sdk.js",
    ...overrides,
  };
}

/** Bytes each input contributed to an output (esbuild metafile), keyed by path relative to clients/web. */
export function inputBytes(metafile, outputName) {
  const out = Object.entries(metafile.outputs).find(([name]) => name.endsWith(outputName));
  if (!out) throw new Error(`no output ${outputName} in the metafile`);
  return Object.fromEntries(Object.entries(out[1].inputs).map(([p, v]) => [p, v.bytesInOutput]));
}
