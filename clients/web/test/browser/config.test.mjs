// page/config.ts and page/text.ts, bundled for Node with esbuild: what config.json may contain, how a bad one is
// reported, the API origin the page's CSP must allow; the display rule for text from the server or other users;
// index.html as the build ships it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as esbuild from "esbuild";
import { PAGE_DIR, pageFile } from "../../scripts/bundle.mjs";
import { stampApiOrigin } from "../../scripts/csp.mjs";

const built = await esbuild.build({
  stdin: { contents: 'export * from "./config.ts"; export * from "./text.ts";', resolveDir: PAGE_DIR, loader: "ts" },
  bundle: true, format: "esm", platform: "neutral", write: false,
});
const file = join(mkdtempSync(join(tmpdir(), "e2ee-config-")), "config.mjs");
writeFileSync(file, built.outputFiles[0].contents);
const { parseConfig, checkApiAllowed, displayText } = await import(pathToFileURL(file).href);
const pageHtml = readFileSync(join(PAGE_DIR, "index.html"), "utf8");
const pageCsp = /http-equiv="Content-Security-Policy"\s+content="([^"]*)"/.exec(pageHtml)[1];

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

test("the page's CSP: scripts and styles from its origin (and WebAssembly), connect-src its origin and the API's only", () => {
  const directives = Object.fromEntries(pageCsp.split(";").map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v.join(" ")]));
  assert.deepEqual(directives, {
    "default-src": "'none'",
    "script-src": "'self' 'wasm-unsafe-eval'",
    "style-src": "'self'",
    "img-src": "'self'",
    "connect-src": "'self' __E2EE_API_ORIGIN__",
    "base-uri": "'none'",
    "form-action": "'none'",
  });
  assert.match(pageHtml, /<meta name="referrer" content="no-referrer">/);
});

test("config.json must name an API on the origin the page's CSP allows; a page built without one refuses every API", () => {
  const cfg = (apiBaseUrl) => parseConfig({ apiBaseUrl });
  const csp = stampApiOrigin(pageCsp, "https://api.example");
  checkApiAllowed(cfg("https://api.example"), csp);
  checkApiAllowed(cfg("https://api.example/prod"), csp); // a path on that origin
  for (const other of ["https://evil.example", "http://api.example", "https://api.example:8443", "https://sub.api.example"]) {
    assert.throws(() => checkApiAllowed(cfg(other), csp), (e) => e.name === "ConfigError" && e.message.includes(new URL(other).origin) && e.message.includes("https://api.example") && /Content-Security-Policy/.test(e.message), other);
  }
  assert.throws(() => checkApiAllowed(cfg("https://api.example"), pageCsp), (e) => e.name === "ConfigError" && /built without its API origin/.test(e.message));
  assert.throws(() => checkApiAllowed(cfg("https://api.example"), null), (e) => e.name === "ConfigError" && /may connect only to none/.test(e.message));
});

test("displayText: bidi controls removed, other control characters but newline and tab replaced (the Rust core's sanitize)", () => {
  // the cases of clients/core/src/text.rs
  assert.equal(displayText("a\u001b[31mb\r\nc\td"), "a\ufffd[31mb\ufffd\nc\td");
  const bidi = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f", "\u061c"];
  for (const c of bidi) assert.equal(displayText(`x${c}y`), "xy", c.codePointAt(0).toString(16));
  assert.equal(displayText("invoice\u202egpj.exe"), "invoicegpj.exe");
  for (let cp = 0; cp <= 0x9f; cp++) {
    const c = String.fromCodePoint(cp);
    const control = cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
    assert.equal(displayText(c), control && c !== "\n" && c !== "\t" ? "\ufffd" : c, cp.toString(16));
  }
  // letters, marks, emoji, zero-width joiner/space (not bidi controls, not Cc) pass unchanged
  for (const ok of ["Renée", "日本語", "مرحبا", "👩‍👩‍👧", "zero\u200bwidth", "\u00a0nbsp"]) assert.equal(displayText(ok), ok);
});

test("index.html as shipped (bundle.mjs pageFile): no comments, no indentation, the same elements, text and CSP", () => {
  const shipped = pageFile("index.html").toString("utf8");
  assert.ok(!shipped.includes("<!--") && !/\n[ \t]/.test(shipped));
  assert.ok(shipped.length < pageHtml.length - 2000);
  const words = (html) => html.replace(/<!--[\s\S]*?-->/g, "").split(/\s+/).filter(Boolean);
  assert.deepEqual(words(shipped), words(pageHtml), "only whitespace between the same words and tags changed");
  assert.equal(/http-equiv="Content-Security-Policy"\s+content="([^"]*)"/.exec(shipped)[1], pageCsp);
  assert.match(shipped, /<textarea id="composer-text"[^>]*><\/textarea>/);
});
