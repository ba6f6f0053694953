// Prints the raw and gzip sizes of the SDK bundle without MLS (src/core.ts) and of the page as build-page.mjs writes
// it (built here in memory), split by what a browser loads: the page without MLS (app.js and the chunks it imports,
// the CSS, index.html, the icon: what the 1:1 chat loads) and the MLS part (groups.js and the chunks only it imports,
// with the client core's WebAssembly module, loaded when group chats open).
// Fails when the page without MLS is over its budget or contains MLS code (or other code only group chats need).

import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";
import { CORE_WASM, CORE_WASM_FILE, PAGE_STATIC_FILES, pageChunks, pageFile, pageOptions, sdkOptions } from "./bundle.mjs";

/** Budget for the whole page without MLS, gzipped (issue 12). */
const PAGE_BUDGET_GZ = 150 * 1024;
/**
 * And it must not grow: 30,389 bytes (29.7 KB) gzipped was the page without MLS before the MLS state was sealed and
 * the CSP origin check and displayText were added (reviews N9, N12), which it must not exceed (sum of the files'
 * gzip -9 sizes, as printed).
 */
const PAGE_CEILING_GZ = 30_389;
/**
 * Inputs that only group chats need: MLS code, the sealed store of the MLS state (src/sealed.ts; the 1:1 page only
 * unlocks its data key, src/sealedkey.ts), the page's group chat modules.
 */
const MLS_INPUT = /ts-mls|@hpke|@noble|wasm\/e2ee_client_wasm|src\/mls\/|src\/sealed\.ts$|page\/groups\//;

const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const sum = (rows) => ({ raw: rows.reduce((a, r) => a + r.raw, 0), gz: rows.reduce((a, r) => a + r.gz, 0) });

const sdk = await esbuild.build(sdkOptions());
const sdkRow = { name: "sdk (src/core.ts, no MLS)", raw: sdk.outputFiles[0].contents.length, gz: gz(sdk.outputFiles[0].contents) };

const page = await esbuild.build(pageOptions({ write: false, metafile: true }));
const files = new Map(page.outputFiles.map((f) => [basename(f.path), f.contents]));
const { eager, mls, onDemand, outputs } = pageChunks(page.metafile);
const row = (name) => ({ name, raw: files.get(name).length, gz: gz(files.get(name)) });
const eagerRows = [...eager, "app.css"].map(row);
for (const f of PAGE_STATIC_FILES) {
  const bytes = pageFile(f); // as build-page.mjs writes it
  eagerRows.push({ name: f, raw: bytes.length, gz: gz(bytes) });
}
const wasm = readFileSync(CORE_WASM_FILE);
const mlsRows = [...[...mls].map(row), { name: CORE_WASM, raw: wasm.length, gz: gz(wasm) }];

const width = 44;
const line = (name, r) => console.log(`${name.padEnd(width)}  raw ${kb(r.raw).padStart(9)}  gzip ${kb(r.gz).padStart(9)}`);
line(sdkRow.name, sdkRow);
console.log("page without MLS (what the 1:1 chat loads):");
for (const r of eagerRows) line(`  ${r.name}`, r);
const eagerTotal = sum(eagerRows);
line("  total", eagerTotal);
console.log("MLS part (loaded when group chats open):");
for (const r of mlsRows) line(`  ${r.name}`, r);
const mlsTotal = sum(mlsRows);
line("  total (the MLS chunk, its own chunks and the core)", mlsTotal);
line("page with MLS", sum([...eagerRows, ...mlsRows]));
if (onDemand.size) {
  console.error(`size: chunks that neither the page nor group chats load: ${[...onDemand].join(", ")}`);
  process.exit(1);
}

const leaked = [...eager].flatMap((n) => Object.keys(outputs.get(n).inputs).filter((p) => MLS_INPUT.test(p)));
if (leaked.length) {
  console.error(`size: the page without MLS contains MLS code: ${leaked.join(", ")}`);
  process.exit(1);
}
if (eagerTotal.gz > PAGE_BUDGET_GZ) {
  console.error(`size: the page without MLS is ${kb(eagerTotal.gz)} gzipped, over its budget of ${kb(PAGE_BUDGET_GZ)}`);
  process.exit(1);
}
if (eagerTotal.gz > PAGE_CEILING_GZ) {
  console.error(`size: the page without MLS is ${eagerTotal.gz} bytes gzipped, more than the ${PAGE_CEILING_GZ} it must not grow past`);
  process.exit(1);
}
console.log(`page budget: ${kb(eagerTotal.gz)} of ${kb(PAGE_BUDGET_GZ)} gzip without MLS (no MLS code in it); ${eagerTotal.gz} of at most ${PAGE_CEILING_GZ} bytes (must not grow)`);
