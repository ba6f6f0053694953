// Builds the chat page into dist-page/: app.js and app.css (esbuild, minified) plus index.html (its comments and
// indentation dropped: bundle.mjs pageFile), the icon and the client core's WebAssembly module (group chats). Type
// checking is tsc's job (npm run build:page runs it first); esbuild only strips the types.
//
// E2EE_API_ORIGIN (e.g. https://abc123.execute-api.eu-west-1.amazonaws.com): the only API origin the page's
// Content-Security-Policy lets it connect to (scripts/csp.mjs). Set it for a static deployment; without it the
// placeholder stays and only scripts/serve.mjs (which fills it in) can serve the page usefully.

import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { CORE_WASM, CORE_WASM_FILE, DIST_PAGE_DIR, PAGE_STATIC_FILES, pageFile, pageOptions } from "./bundle.mjs";
import { apiOrigin, stampApiOrigin } from "./csp.mjs";

if (!existsSync(CORE_WASM_FILE)) {
  console.error(`build-page: no ${CORE_WASM_FILE}: build the client core first (scripts/build-wasm.sh)`);
  process.exit(1);
}
rmSync(DIST_PAGE_DIR, { recursive: true, force: true });
mkdirSync(DIST_PAGE_DIR, { recursive: true });
const result = await esbuild.build(pageOptions());
for (const w of result.warnings) console.warn(`build-page: warning: ${w.text}`);
for (const f of PAGE_STATIC_FILES) writeFileSync(join(DIST_PAGE_DIR, f), pageFile(f));
copyFileSync(CORE_WASM_FILE, join(DIST_PAGE_DIR, CORE_WASM));
const origin = process.env.E2EE_API_ORIGIN;
if (origin) {
  const html = join(DIST_PAGE_DIR, "index.html");
  writeFileSync(html, stampApiOrigin(readFileSync(html, "utf8"), origin));
  console.log(`build-page: wrote ${DIST_PAGE_DIR} (CSP connect-src 'self' ${apiOrigin(origin)})`);
} else {
  console.log(`build-page: wrote ${DIST_PAGE_DIR} without an API origin in its CSP: scripts/serve.mjs fills it in; for a static host build with E2EE_API_ORIGIN=https://your-api-origin`);
}
