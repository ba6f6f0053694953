// The client vectors (tests/vectors/client/) replayed through the WebAssembly build of the client core in Chromium,
// as vectors.test.mjs does in Node: the same module, loaded as the page loads it (fetch + instantiateStreaming),
// under the page's Content-Security-Policy for scripts (`script-src 'self' 'wasm-unsafe-eval'`: no 'unsafe-eval').

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import { extname, join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { WASM_DIR, scenarios } from "./load.mjs";

const CHROMIUM = process.env.E2EE_CHROMIUM || "/usr/bin/chromium";
const HERE = import.meta.dirname;
const TYPES = { ".ico": "image/x-icon", ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };
const CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; img-src 'self'";

let server, browser, page, origin;
const errors = [];

before(async () => {
  // A missing Chromium fails this suite (scripts/test.sh installs it); it never passes by skipping.
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium, or set E2EE_CHROMIUM`);
  const files = {
    "/index.html": () => Buffer.from("<!doctype html><title>core</title>"),
    "/favicon.ico": () => Buffer.alloc(0),
    "/replay.mjs": () => readFileSync(join(HERE, "replay.mjs")),
    "/vectors.json": () => Buffer.from(JSON.stringify(scenarios())),
    "/wasm/e2ee_client_wasm.js": () => readFileSync(join(WASM_DIR, "e2ee_client_wasm.js")),
    "/wasm/e2ee_client_wasm_bg.wasm": () => readFileSync(join(WASM_DIR, "e2ee_client_wasm_bg.wasm")),
  };
  server = http.createServer((req, res) => {
    const file = files[new URL(req.url, "http://x").pathname];
    if (!file) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": TYPES[extname(req.url)], "content-security-policy": CSP }).end(file());
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM });
  page = await browser.newPage();
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(`${origin}/index.html`);
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => (server ? server.close(ok) : ok()));
});

test("every client vector replays to the recorded decisions in Chromium", async () => {
  const result = await page.evaluate(async () => {
    const start = performance.now();
    const core = await import("/wasm/e2ee_client_wasm.js");
    await core.default({ module_or_path: "/wasm/e2ee_client_wasm_bg.wasm" });
    const loadMs = performance.now() - start;
    const { replay } = await import("/replay.mjs");
    const all = await (await fetch("/vectors.json")).json();
    return { loadMs, results: all.map(({ file, scenario }) => ({ file, mismatches: replay(core, scenario) })) };
  });
  assert.deepEqual(errors, []);
  assert.ok(result.results.length >= 15, `${result.results.length} scenarios`);
  for (const { file, mismatches } of result.results) assert.deepEqual(mismatches, [], file);
  console.log(`wasm load + instantiate in Chromium: ${result.loadMs.toFixed(1)} ms`);
});

test("an MLS device lives in Chromium: a group created, its state saved and loaded", async () => {
  const result = await page.evaluate(async () => {
    const core = await import("/wasm/e2ee_client_wasm.js");
    const device = core.MlsDevice.create("u_alice", "laptop");
    const { groupId } = JSON.parse(device.createGroup("x", Date.now()));
    const again = core.MlsDevice.load(device.save());
    return { groupId, epoch: again.epoch(groupId), ids: again.groupIds(), packages: again.keyPackages(2, false).length };
  });
  assert.match(result.groupId, /^[0-9a-f]{32,}$/);
  assert.deepEqual(result.ids, [result.groupId]);
  assert.equal(result.epoch, 0);
  assert.equal(result.packages, 2);
  assert.deepEqual(errors, []);
});
