// In Chromium (playwright-core, Debian's /usr/bin/chromium): the MLS figures of bench/mls-core.mjs with the devices'
// state in IndexedDB, as the page keeps it — a 1 KiB text sent and read through the served API, a group of 10
// created (the SDK's driver around the client core in WebAssembly), and ts-mls alone in the page, for comparison. The API is reached through scripts/serve.mjs's CORS front (as the page
// reaches API Gateway), started here with the bench page's origin allowed. One run; medians.
//
// Usage: npm run build && E2EE_SERVER=http://127.0.0.1:9100 npm run bench:browser:mls
//   (env: E2EE_CHROMIUM, RUNS (30), CREATE_RUNS (5), BENCH_STORE (indexeddb, or memory: the same without the
//   IndexedDB writes, to see their share))

import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { benchPage } from "./chromium.mjs";
import { CORE_WASM, CORE_WASM_FILE, mlsBenchOptions } from "../scripts/bundle.mjs";
import { startServers } from "../scripts/serve.mjs";

const SERVER = process.env.E2EE_SERVER;
if (!SERVER) throw new Error("set E2EE_SERVER (the API's base URL)");
const runs = Number(process.env.RUNS ?? 30);
const createRuns = Number(process.env.CREATE_RUNS ?? 5);
const store = process.env.BENCH_STORE ?? "indexeddb";
if (store !== "indexeddb" && store !== "memory") throw new Error("BENCH_STORE must be indexeddb or memory");
for (const [name, n] of [["RUNS", runs], ["CREATE_RUNS", createRuns]]) if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);

const bundle = (await esbuild.build(mlsBenchOptions())).outputFiles[0].text;
// The bench page comes from serve.mjs's static server on 127.0.0.1 (a secure context: WebCrypto, IndexedDB), whose
// origin the CORS front allows. Chromium lets only a page it loaded from a loopback address reach the loopback API,
// so the page is not a Playwright route and not cross-origin isolated: performance.now() has 0.1 ms resolution.
const root = mkdtempSync(join(tmpdir(), "e2ee-bench-"));
// (an empty icon: no favicon.ico request, whose 404 would be an error in the page)
writeFileSync(join(root, "index.html"), '<!doctype html><title>bench</title><link rel="icon" href="data:,">');
writeFileSync(join(root, "mls-bench.js"), bundle);
copyFileSync(CORE_WASM_FILE, join(root, CORE_WASM));
const servers = await startServers({ api: SERVER, webRoot: root, webPort: 0, corsPort: 0, origins: [], allowPage: true });
const { browser, page, assertNoErrors } = await benchPage();
try {
  await page.goto(servers.pageUrl);
  const result = await page.evaluate(async ({ server, runs, createRuns, store, wasm }) => {
    const { mlsFigures, describeFigures, openIndexedDbKvStore, MemoryKvStore, setCoreSource } = await import("/mls-bench.js");
    setCoreSource(new URL(`/${wasm}`, location.href));
    let n = 0;
    const newStore = store === "memory" ? async () => new MemoryKvStore() : () => openIndexedDbKvStore(`bench-${n++}`);
    const figures = await mlsFigures({ server, runs, createRuns, newStore });
    return { figures, lines: describeFigures(figures, { runs, createRuns }) };
  }, { server: servers.apiUrl, runs, createRuns, store, wasm: CORE_WASM });
  assertNoErrors();
  console.log(`Chromium ${browser.version()}, device state in ${store === "memory" ? "memory" : "IndexedDB"}, API through the CORS front (medians):`);
  for (const line of result.lines) console.log(`  ${line}`);
  console.log(JSON.stringify({ chromium: browser.version(), store, runs, createRuns, medianMs: result.figures }));
} finally {
  await browser.close();
  await servers.close();
  rmSync(root, { recursive: true, force: true });
}
