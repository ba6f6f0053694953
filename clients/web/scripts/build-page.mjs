// Builds the chat page into dist-page/: app.js and app.css (esbuild, minified) plus index.html and the icon as
// they are. Type checking is tsc's job (npm run build:page runs it first); esbuild only strips the types.

import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { DIST_PAGE_DIR, PAGE_DIR, PAGE_STATIC_FILES, pageOptions } from "./bundle.mjs";

rmSync(DIST_PAGE_DIR, { recursive: true, force: true });
mkdirSync(DIST_PAGE_DIR, { recursive: true });
const result = await esbuild.build(pageOptions());
for (const w of result.warnings) console.warn(`build-page: warning: ${w.text}`);
for (const f of PAGE_STATIC_FILES) copyFileSync(join(PAGE_DIR, f), join(DIST_PAGE_DIR, f));
console.log(`build-page: wrote ${DIST_PAGE_DIR}`);
