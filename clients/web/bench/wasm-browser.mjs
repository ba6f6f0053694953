// In Chromium (playwright-core, Debian's /usr/bin/chromium): the in-process figures of bench/wasm-core.mjs — the
// client core's WebAssembly build next to ts-mls — and the time to fetch, compile and instantiate the module as the
// page would (instantiateStreaming from a loopback server, under `script-src 'self' 'wasm-unsafe-eval'`). One run.
//   scripts/build-wasm.sh && npm run build && npm run bench:browser:wasm   (env: E2EE_CHROMIUM, RUNS, CREATE_RUNS)
import { readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { benchPage } from "./chromium.mjs";
import { WASM_FILE, WEB_DIR } from "../test/wasm/load.mjs";

const runs = Number(process.env.RUNS ?? 30);
const createRuns = Number(process.env.CREATE_RUNS ?? 5);
const bundle = (await esbuild.build({
  stdin: {
    contents: 'export { wasmFigures, describeWasmFigures } from "./wasm-core.mjs";\nexport * as core from "../wasm/e2ee_client_wasm.js";\n',
    resolveDir: join(WEB_DIR, "bench"),
    sourcefile: "wasm-bench-entry.mjs",
    loader: "js",
  },
  bundle: true, format: "esm", platform: "browser", target: "es2022", minify: true, write: false, outfile: "wasm-bench.js",
})).outputFiles[0].text;
const files = {
  "/index.html": ["text/html", "<!doctype html><title>bench</title>"],
  "/favicon.ico": ["image/x-icon", ""],
  "/wasm-bench.js": ["text/javascript", bundle],
  "/e2ee_client_wasm_bg.wasm": ["application/wasm", readFileSync(WASM_FILE)],
};
const server = http.createServer((req, res) => {
  const file = files[new URL(req.url, "http://x").pathname];
  if (!file) return res.writeHead(404).end();
  res.writeHead(200, { "content-type": file[0], "content-security-policy": "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'" }).end(file[1]);
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const { browser, page, assertNoErrors } = await benchPage();
try {
  await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
  const result = await page.evaluate(async ({ runs, createRuns }) => {
    const { wasmFigures, describeWasmFigures, core } = await import("/wasm-bench.js");
    const start = performance.now();
    await core.default({ module_or_path: "/e2ee_client_wasm_bg.wasm" });
    const loadMs = performance.now() - start;
    const figures = await wasmFigures(core, { runs, createRuns });
    return { loadMs, figures, lines: describeWasmFigures(figures, { runs, createRuns }) };
  }, { runs, createRuns });
  assertNoErrors();
  console.log(`Chromium ${browser.version()}, wasm fetch + compile + instantiate ${result.loadMs.toFixed(1)} ms (medians):`);
  for (const line of result.lines) console.log(`  ${line}`);
  console.log(JSON.stringify({ chromium: browser.version(), loadMs: result.loadMs, runs, createRuns, medianMs: result.figures }));
} finally {
  await browser.close();
  await new Promise((ok) => server.close(ok));
}
