// Harness of the browser tests: what they need from the environment (E2EE_SERVER, E2EE_CLI, Chromium; a missing
// Chromium always fails them, a missing server or CLI skips them, or fails them when CI=true), serve.mjs started on free ports, Chromium contexts that record
// every console error, page error and failed API call, and small helpers that drive the page as a user does
// (labels and roles, the keyboard).

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { chromium } from "playwright-core";
import { ApiClient, connect, generateKeyPair, MemoryKvStore, MlsDevice } from "../../dist/index.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB_DIR = join(HERE, "..", "..");
const REPO = join(WEB_DIR, "..", "..");

const CI = process.env.CI === "true";
export const SERVER = process.env.E2EE_SERVER || null;
const CLI = process.env.E2EE_CLI || null;
const CHROMIUM = process.env.E2EE_CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = process.env.E2EE_ARTIFACTS || join(REPO, "target", "ci-artifacts", "web");
export const PASSWORD = "a long enough password";

/**
 * The `skip` option for a test that needs `what` (server, cli, chromium): false when all are there, else the
 * reason. A missing Chromium throws (the browser suite is these tests: without a browser it fails, it never
 * passes by skipping); with CI=true any missing one throws.
 */
export function needs(...what) {
  if (what.includes("chromium") && !existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (scripts/test.sh installs it), or set E2EE_CHROMIUM`);
  }
  const missing = [];
  if (what.includes("server") && !SERVER) missing.push("E2EE_SERVER (the API's base URL) is not set");
  if (what.includes("cli") && !(CLI && existsSync(CLI))) missing.push(`E2EE_CLI (the e2ee binary) is ${CLI ? `not at ${CLI}` : "not set"}`);
  if (missing.length === 0) return false;
  const reason = missing.join("; ");
  if (CI) throw new Error(`CI=true: ${reason}`);
  return reason;
}

export const rand = () => Math.random().toString(16).slice(2, 8);

async function freePort() {
  const s = net.createServer();
  await new Promise((ok) => s.listen(0, "127.0.0.1", ok));
  const { port } = s.address();
  await new Promise((ok) => s.close(ok));
  return port;
}

/**
 * scripts/serve.mjs as a user runs it, on free ports, against E2EE_SERVER, with the page's own origin as the one
 * allowed origin (as CorsAllowedOrigins would list it), or another one with `allowPage: false`. pollMs and
 * pageSize go into config.json.
 */
export async function startServe({ pollMs = 500, pageSize, allowPage = true } = {}) {
  const [webPort, corsPort] = [await freePort(), await freePort()];
  const env = {
    ...process.env,
    E2EE_API: SERVER,
    E2EE_WEB_PORT: String(webPort),
    E2EE_CORS_PORT: String(corsPort),
    E2EE_CORS_ORIGINS: allowPage ? `http://127.0.0.1:${webPort}` : "https://elsewhere.example",
    E2EE_POLL_MS: String(pollMs),
  };
  if (pageSize !== undefined) env.E2EE_PAGE_SIZE = String(pageSize);
  const child = spawn(process.execPath, [join(WEB_DIR, "scripts", "serve.mjs")], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`serve.mjs did not start in 15 s: ${out}${err}`)), 15000);
    child.stdout.on("data", (d) => {
      out += d;
      if (/^api: /m.test(out)) {
        clearTimeout(timer);
        ok();
      }
    });
    child.once("exit", (code) => fail(new Error(`serve.mjs exited (${code}): ${err}`)));
  });
  return {
    pageUrl: `http://127.0.0.1:${webPort}/`,
    stop: () => new Promise((ok) => (child.exitCode !== null ? ok() : (child.once("exit", ok), child.kill("SIGTERM")))),
  };
}

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM });
}

/**
 * A browser user: its own context (so its own IndexedDB: keys, pins, group state), with every console error, page error, failed
 * request and API answer >= 400 recorded for assertClean.
 */
/**
 * The browser and page servers of one test file: Chromium launched before its tests (not when they are skipped),
 * serve.mjs instances started on demand, all stopped after the file. `open(name)` opens a user's tab on the file's
 * shared page server (`shared` options), `open(name, serve)` on one of `serve(options)`.
 */
export function browserSuite(skip, shared = { pollMs: 400 }) {
  let browser;
  let sharedServe;
  const serves = [];
  before(async () => {
    if (!skip) browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await Promise.all(serves.map((s) => s.stop()));
  });
  const serve = async (options) => {
    const s = await startServe(options);
    serves.push(s);
    return s;
  };
  return {
    serve,
    async open(name, on) {
      sharedServe ??= serve(shared);
      return openUser(browser, on ?? (await sharedServe), name);
    },
  };
}

export async function openUser(browser, serve, name) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const log = { consoleErrors: [], pageErrors: [], failedRequests: [], httpErrors: [], sends: 0, scripts: [] };
  page.on("console", (m) => {
    if (m.type() === "error") log.consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => log.pageErrors.push(e.message));
  page.on("requestfailed", (r) => log.failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on("request", (r) => {
    const path = new URL(r.url()).pathname;
    if (r.method() === "POST" && path === "/api/messages/send") log.sends++;
    if (r.resourceType() === "script") log.scripts.push(path.slice(1));
  });
  page.on("response", (r) => {
    if (r.status() >= 400) log.httpErrors.push({ method: r.request().method(), path: new URL(r.url()).pathname, status: r.status() });
  });
  await page.goto(serve.pageUrl);
  await page.locator("#server-url", { hasText: /^http:\/\/127\.0\.0\.1:\d+$/ }).waitFor();
  return { name, context, page, log };
}

/** An expected API error (Chromium logs every HTTP error answer as a console error; those must be expected). */
export const HISTORY_OF_NEW_CHAT = { method: "GET", path: /^\/api\/messages\/history\/c_[0-9a-f]{64}$/, status: 404 };

/**
 * The user's page showed no error (alert region empty, or exactly one alert per pattern of `alerts`) and logged none:
 * no page error, no failed request, and the only console errors are Chromium's "Failed to load resource" lines for
 * API answers listed in `expected`.
 */
export async function assertClean(user, expected = [], { alerts = [] } = {}) {
  const { log, page } = user;
  const shown = await page.locator("#alerts .alert").allTextContents();
  // The HTTP errors go with the alerts, so that an alert names the request behind it.
  const errors = log.httpErrors.map((r) => `${r.method} ${r.path} ${r.status}`).join(", ");
  assert.equal(shown.length, alerts.length, `${user.name}: alerts shown: ${shown.join(" | ")}; HTTP errors: ${errors || "none"}`);
  alerts.forEach((re, i) => assert.match(shown[i], re, `${user.name}: alert ${i}`));
  assert.deepEqual(log.pageErrors, [], `${user.name}: page errors`);
  assert.deepEqual(log.failedRequests, [], `${user.name}: failed requests`);
  const unexpected = log.httpErrors.filter((r) => !expected.some((x) => x.method === r.method && x.path.test(r.path) && x.status === r.status));
  assert.deepEqual(unexpected, [], `${user.name}: unexpected HTTP errors`);
  const other = log.consoleErrors.filter((t) => !/^Failed to load resource: the server responded with a status of \d+/.test(t));
  assert.deepEqual(other, [], `${user.name}: console errors`);
  assert.equal(log.consoleErrors.length, log.httpErrors.length, `${user.name}: console errors vs HTTP errors: ${log.consoleErrors.join(" | ")}`);
}

/** Saves a screenshot of the page into E2EE_ARTIFACTS and prints its path. */
export async function screenshot(t, user, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await user.page.screenshot({ path, fullPage: true });
  t.diagnostic(`screenshot: ${path}`);
  return path;
}

// ---------------------------------------------------------------------------------------------------------------
// Driving the page
// ---------------------------------------------------------------------------------------------------------------

/**
 * Creates the account, then in the key step generates its key: with a backup file when `backupPassphrase` is given
 * (returned as `backup`, the download), else without. Returns the fingerprint shown (and the download).
 */
export async function register(user, username, { backupPassphrase } = {}) {
  const { page } = user;
  await page.getByLabel("Username", { exact: true }).fill(username);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  const backup = await generateKey(user, { backupPassphrase });
  const fp = await signedIn(user, username);
  return backupPassphrase === undefined ? fp : { fp, backup };
}

/** Logs in; `then` is what the user does in the key step, when one is expected. Returns the fingerprint shown. */
export async function login(user, username, then = null) {
  const { page } = user;
  await page.getByLabel("Username", { exact: true }).fill(username);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  if (then) {
    await page.getByRole("heading", { name: "Your key in this browser" }).waitFor({ timeout: 30000 });
    await then();
  }
  return signedIn(user, username);
}

async function signedIn(user, username) {
  await user.page.locator("#account-bar", { hasText: `Signed in as ${username}.` }).waitFor({ timeout: 60000 });
  return (await user.page.locator("#me-fp").textContent()).trim();
}

/**
 * The key step: a new key, authorized by the password when `password` (the account has a key already), with a
 * backup file when `backupPassphrase`; then the download of that file, saved, is returned.
 */
export async function generateKey(user, { backupPassphrase, password } = {}) {
  const { page } = user;
  await page.getByRole("heading", { name: "Your key in this browser" }).waitFor({ timeout: 30000 });
  if (password !== undefined) await page.getByLabel("Your password").fill(password);
  if (backupPassphrase === undefined) {
    await page.getByRole("button", { name: "Generate key without backup" }).click();
    return null;
  }
  await page.getByLabel("Passphrase for the backup file").fill(backupPassphrase);
  await page.getByLabel("Repeat the passphrase").fill(backupPassphrase);
  await page.getByRole("button", { name: "Generate key and backup file" }).click();
  const link = page.getByRole("link", { name: "Download the key backup file" });
  await link.waitFor({ timeout: 60000 });
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  return download;
}

/** The key step: imports a key file (a backup of the page, or a CLI key file) opened with `passphrase`. */
export async function importKeyFile(user, file, passphrase) {
  const { page } = user;
  await page.getByLabel("Key file", { exact: true }).setInputFiles(file);
  await page.getByLabel("Passphrase of the key file").fill(passphrase);
  await page.getByRole("button", { name: "Import key" }).click();
}

/** Group chats are set up in a browser of an account that has a group device: it waits for approval. Returns the
 * pending device's id and fingerprint as the page shows them. */
export async function setUpPendingGroups(user, deviceName) {
  const { page } = user;
  await page.getByLabel("Name of this device").fill(deviceName);
  await page.getByRole("button", { name: "Set up group chats" }).click();
  await page.getByRole("heading", { name: "⌛ Waiting for approval" }).waitFor({ timeout: 60000 });
  const text = async (id) => (await page.locator(`#${id}`).textContent()).trim();
  return { deviceId: await text("groups-pending-id"), fingerprint: await text("groups-pending-fp"), command: await text("groups-pending-command") };
}

/** Adds a contact by username; the chat with them opens and the key panel shows the pinned fingerprint. */
export async function addContact(user, username) {
  const { page } = user;
  await page.getByLabel("Add a contact by username").fill(username);
  await page.getByLabel("Add a contact by username").press("Enter");
  await page.getByRole("heading", { name: `Chat with ${username}` }).waitFor();
  const summary = page.locator("#key-panel .key-summary");
  await summary.filter({ hasText: `Key of ${username}:` }).waitFor();
  return (await summary.textContent()).replace(/^.*: /, "").trim();
}

/** The page's group chats: this browser becomes a group device (the MLS chunk and the client core's module are loaded now). */
export async function setUpGroups(user, deviceName = "Web browser") {
  const { page } = user;
  await page.getByLabel("Name of this device").fill(deviceName);
  await page.getByRole("button", { name: "Set up group chats" }).click();
  await groupsOpen(user);
}

/** Group chats are running (set up now, or opened from this browser's store at sign-in). */
export async function groupsOpen(user) {
  await user.page.locator("#groups-device", { hasText: "This browser is your group device web-" }).waitFor({ timeout: 60000 });
}

/** Creates a group in the page; it opens, with its member panel loaded. */
export async function createGroup(user, name, members) {
  const { page } = user;
  await page.getByLabel("Group name (optional)").fill(name);
  await page.getByLabel("Members", { exact: true }).fill(members.join(", "));
  await page.getByRole("button", { name: "Create group" }).click();
  await page.locator("#group-title", { hasText: name }).waitFor({ timeout: 60000 });
  await page.locator("#member-list .member").first().waitFor();
}

/** The group's entry in the list (name as the page shows it). */
export function groupEntry(user, name) {
  return user.page.locator("#group-list .contact", { hasText: name });
}

/** The group message item(s) whose text is exactly `text`. */
export function groupMessage(user, text) {
  return user.page.locator("#group-messages li.msg").filter({ has: user.page.locator("p.text", { hasText: new RegExp(`^${escapeRe(text)}$`) }) });
}

/** Sends to the open group and waits until the message is listed as sent from this browser. */
export async function sendToGroup(user, text) {
  const box = user.page.locator("#group-composer-text");
  await box.fill(text);
  await box.press("Enter");
  await groupMessage(user, text).and(user.page.locator('[data-status="sent"]')).waitFor({ timeout: 30000 });
}

/** The texts and states of the open group's messages, in order: [text, data-status, status line]. */
export function groupMessages(user) {
  return user.page.locator("#group-messages li.msg").evaluateAll((els) =>
    els.map((e) => [e.querySelector("p.text").textContent, e.dataset.status, e.querySelector("p.status").textContent]),
  );
}

/** The member panel: {name: [[deviceId, trusted, "in the group" | "not in the group"], ...]}. */
export function memberPanel(user) {
  return user.page.locator("#member-list > li.member").evaluateAll((els) =>
    Object.fromEntries(
      els.map((m) => [
        m.querySelector(".member-name").textContent,
        [...m.querySelectorAll("li.device")].map((d) => [d.dataset.deviceId, d.dataset.trusted === "true", /not in the group/.test(d.textContent) ? "not in the group" : "in the group"]),
      ]),
    ),
  );
}

/** A user of the SDK in Node with a key and an MLS device (memory store): a group member outside any browser. */
export async function sdkGroupUser(name) {
  const username = `${name}_${rand()}`;
  const session = await connect(new ApiClient({ baseUrl: SERVER }), username, PASSWORD, { register: true });
  await session.registerKey(await generateKeyPair(2048));
  const { device } = await MlsDevice.init({ session, kv: new MemoryKvStore(), deviceId: "node", username });
  return { username, userId: session.userId, session, device };
}

/** Types into the composer and presses Enter. */
export async function typeAndSend(user, text) {
  const box = user.page.locator("#composer-text");
  await box.fill(text);
  await box.press("Enter");
}

/** Sends and waits until the message is listed as sent. */
export async function send(user, text) {
  await typeAndSend(user, text);
  await message(user, text).filter({ hasText: "✓ Sent" }).waitFor();
}

/** The message item(s) whose text is exactly `text`. */
export function message(user, text) {
  return user.page.locator("#messages li.msg").filter({ has: user.page.locator("p.text", { hasText: new RegExp(`^${escapeRe(text)}$`) }) });
}

export async function statusOf(user, text) {
  return (await message(user, text).locator("p.status").textContent()).trim();
}

export async function shownTexts(user) {
  return user.page.locator("#messages li.msg p.text").allTextContents();
}

/** Waits until the (visually hidden) live region has announced `text`. */
export async function announced(user, text) {
  await user.page.locator("#announcer", { hasText: text }).waitFor({ state: "attached" });
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// ---------------------------------------------------------------------------------------------------------------
// The Rust CLI (tests/kit/src/cli.rs drives it the same way: profiles in a temporary directory, secrets in env)
// ---------------------------------------------------------------------------------------------------------------

export function cliSandbox() {
  const dir = mkdtempSync(join(tmpdir(), "e2ee-web-cli-"));
  const env = {
    ...process.env,
    E2EE_SERVER: SERVER,
    E2EE_PROFILE_DIR: dir,
    E2EE_TEST_PASSWORD: PASSWORD,
    E2EE_TEST_PASSPHRASE: "the right passphrase",
  };
  delete env.E2EE_PROFILE;
  /** `e2ee --profile P --json args...`; must succeed; returns the parsed JSON. */
  const cli = (profile, ...args) => {
    const r = spawnSync(CLI, ["--profile", profile, "--json", ...args], { env, encoding: "utf8", timeout: 60000 });
    assert.equal(r.status, 0, `e2ee ${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  /** Where profile P keeps its files (keys/<key id>.key, as `e2ee keys init` writes them). */
  cli.profileDir = (profile) => join(dir, profile);
  /** `e2ee args...` without --json (the offline commands print text); must succeed; returns stdout. */
  cli.text = (...args) => {
    const r = spawnSync(CLI, args, { env, encoding: "utf8", timeout: 60000 });
    assert.equal(r.status, 0, `e2ee ${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  return cli;
}
