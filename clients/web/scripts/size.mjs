// Prints the raw and gzip sizes of the SDK bundle (envelope + API half of src/, without MLS) and of the page
// (dist-page as build-page.mjs writes it, built here in memory), and fails when the page is over its budget.

import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";
import { PAGE_DIR, PAGE_STATIC_FILES, inputBytes, pageOptions, sdkOptions } from "./bundle.mjs";

/** Budget for the whole page without MLS, gzipped (issue 12). */
const PAGE_BUDGET_GZ = 150 * 1024;
const MLS_INPUT = /ts-mls|@hpke|@noble|mls/i;

const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const rows = [];
const row = (name, bytes) => {
  const r = { name, raw: bytes.length, gz: gz(bytes) };
  rows.push(r);
  return r;
};

const sdk = await esbuild.build(sdkOptions({ metafile: true }));
row("sdk (envelope + api, no MLS)", sdk.outputFiles[0].contents);

const page = await esbuild.build(pageOptions({ write: false, metafile: true }));
const pageRows = page.outputFiles.map((f) => row(`page ${basename(f.path)}`, f.contents));
for (const f of PAGE_STATIC_FILES) pageRows.push(row(`page ${f}`, readFileSync(join(PAGE_DIR, f))));
const total = { name: "page total", raw: pageRows.reduce((a, r) => a + r.raw, 0), gz: pageRows.reduce((a, r) => a + r.gz, 0) };

const width = Math.max(...rows.map((r) => r.name.length), total.name.length);
for (const r of [...rows, total]) console.log(`${r.name.padEnd(width)}  raw ${kb(r.raw).padStart(9)}  gzip ${kb(r.gz).padStart(9)}`);

const mls = Object.entries(inputBytes(page.metafile, "app.js")).filter(([p]) => MLS_INPUT.test(p));
const mlsBytes = mls.reduce((a, [, n]) => a + n, 0);
console.log(`MLS code in the page bundle: ${mlsBytes} bytes${mls.length ? ` (${mls.map(([p]) => p).join(", ")})` : ""}`);
if (mlsBytes > 0) {
  // the budget is for the page without MLS; a gzip size cannot be split by input, so it is not checked then
  console.log(`page budget (${kb(PAGE_BUDGET_GZ)} gzip without MLS): not checked, the bundle contains MLS code`);
} else if (total.gz > PAGE_BUDGET_GZ) {
  console.error(`size: the page is ${kb(total.gz)} gzipped, over its budget of ${kb(PAGE_BUDGET_GZ)}`);
  process.exit(1);
} else {
  console.log(`page budget: ${kb(total.gz)} of ${kb(PAGE_BUDGET_GZ)} gzip`);
}
