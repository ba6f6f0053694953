// page/config.ts, bundled for Node with esbuild: what config.json may contain, and how a bad one is reported.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as esbuild from "esbuild";
import { PAGE_DIR } from "../../scripts/bundle.mjs";

const built = await esbuild.build({ entryPoints: [join(PAGE_DIR, "config.ts")], bundle: true, format: "esm", platform: "neutral", write: false });
const file = join(mkdtempSync(join(tmpdir(), "e2ee-config-")), "config.mjs");
writeFileSync(file, built.outputFiles[0].contents);
const { parseConfig } = await import(pathToFileURL(file).href);

test("a minimal config.json gets the defaults; a trailing slash is dropped", () => {
  assert.deepEqual(parseConfig({ apiBaseUrl: "https://api.example/" }), {
    apiBaseUrl: "https://api.example",
    pollIntervalMs: 3000,
    historyPageSize: 20,
  });
  assert.deepEqual(parseConfig({ apiBaseUrl: "http://127.0.0.1:8081", pollIntervalMs: 250, historyPageSize: 100 }), {
    apiBaseUrl: "http://127.0.0.1:8081",
    pollIntervalMs: 250,
    historyPageSize: 100,
  });
});

test("a bad config.json is refused with the field named", () => {
  const bad = [
    [null, /not a JSON object/],
    [[], /not a JSON object/],
    [{}, /apiBaseUrl .* is missing/],
    [{ apiBaseUrl: "not a url" }, /not a URL/],
    [{ apiBaseUrl: "ftp://api.example" }, /must be http/],
    [{ apiBaseUrl: "https://user:pw@api.example" }, /credentials/],
    [{ apiBaseUrl: "https://api.example/?x=1" }, /query/],
    [{ apiBaseUrl: "https://api.example", pollIntervalMs: 100 }, /pollIntervalMs must be an integer from 250/],
    [{ apiBaseUrl: "https://api.example", pollIntervalMs: "1000" }, /pollIntervalMs/],
    [{ apiBaseUrl: "https://api.example", historyPageSize: 1.5 }, /historyPageSize/],
    [{ apiBaseUrl: "https://api.example", historyPageSize: 101 }, /historyPageSize/],
    [{ apiBaseUrl: "https://api.example", api: "x" }, /unknown field api/],
  ];
  for (const [raw, msg] of bad) assert.throws(() => parseConfig(raw), (e) => e.name === "ConfigError" && msg.test(e.message), JSON.stringify(raw));
});
