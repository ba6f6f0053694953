#!/usr/bin/env node
// Soak test of the served API (issue 20 item 7): registers a few users, then drives mixed requests — logins, user
// and key lookups, 1:1 sends (sealed and signed by the web SDK, as the browser does), inbox and history reads and
// cheap unauthenticated GETs — from several concurrent workers against E2EE_SERVER, and counts every answer.
//
//     E2EE_SERVER=http://127.0.0.1:9000 node scripts/soak.mjs [--requests 5000] [--concurrency 4] [--users 4]
//                                                             [--timeout-ms 30000] [--strict]
//
// Needs the web SDK built (clients/web: npm ci && npm run build; scripts/test.sh does that before). Fails (exit 1)
// when any 5xx answer is not the API's JSON error (`{"error":{"code","message"}}`) — such an answer comes from
// the local server, not from a function — or when any request got no answer at all. The API's own JSON 5xx
// answers are counted and printed but do not fail the run unless --strict is given. A request unanswered after
// --timeout-ms counts as "no answer". Much longer runs reach the per-user send quota (429 quota_exceeded): counted,
// not a failure. Each bad answer is printed with its time, method, path, status, content type
// and the start of its body, to be matched with the `cargo lambda watch` log.
import { performance } from "node:perf_hooks";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const sdkPath = new URL("../clients/web/dist/index.js", import.meta.url);
if (!existsSync(fileURLToPath(sdkPath))) {
  console.error("soak: clients/web/dist is missing; run `npm ci && npm run build` in clients/web first");
  process.exit(2);
}
const { ApiClient, ApiError, NetworkError, Session, generateKeyPair } = await import(sdkPath.href);

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const SERVER = (process.env.E2EE_SERVER ?? "").replace(/\/+$/, "");
if (!SERVER) {
  console.error("soak: set E2EE_SERVER (the API base URL)");
  process.exit(2);
}
const TOTAL = Number(arg("requests", process.env.SOAK_REQUESTS ?? 5000));
const CONCURRENCY = Number(arg("concurrency", process.env.SOAK_CONCURRENCY ?? 4));
const USERS = Math.max(2, Number(arg("users", 4)));
const STRICT = process.argv.includes("--strict");
const TIMEOUT_MS = Number(arg("timeout-ms", 30000));
const PASSWORD = "soak password, long enough 42";
const suffix = Math.random().toString(36).slice(2, 10);

// ---- every answer is counted here -------------------------------------------------------------------------------
const counts = { requests: 0, byStatus: new Map(), foreign5xx: 0, json5xx: 0, noAnswer: 0 };
const bad = [];
const started = performance.now();
const since = () => ((performance.now() - started) / 1000).toFixed(3);
let stop = false;

/** A fetch that records every answer; the SDK calls it for each request. */
async function recordingFetch(url, init = {}) {
  const method = init.method ?? "GET";
  const path = new URL(url).pathname;
  counts.requests++;
  let res;
  try {
    // A lost function response under cargo-lambda can also show as a request that is never answered.
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (e) {
    counts.noAnswer++;
    bad.push({ t: since(), method, path, status: "no answer", detail: String(e?.cause?.code ?? e?.name ?? e) });
    throw e;
  }
  const key = `${res.status}`;
  counts.byStatus.set(key, (counts.byStatus.get(key) ?? 0) + 1);
  if (res.status >= 500) {
    const text = await res.clone().text();
    let ours = false;
    try {
      const body = JSON.parse(text);
      ours = typeof body?.error?.code === "string";
    } catch {
      // not JSON
    }
    if (ours) counts.json5xx++;
    else counts.foreign5xx++;
    bad.push({
      t: since(),
      method,
      path,
      status: res.status,
      kind: ours ? "API JSON error" : "NOT the API's JSON error",
      contentType: res.headers.get("content-type"),
      body: text.slice(0, 200),
    });
  }
  return res;
}

// ---- users ------------------------------------------------------------------------------------------------------
async function account(i) {
  const name = `soak${i}_${suffix}`;
  const api = new ApiClient({ baseUrl: SERVER, fetch: recordingFetch });
  await api.register(name, PASSWORD);
  const login = await api.login(name, PASSWORD);
  const session = new Session({ api, userId: login.userId, sendRetryDelays: [] });
  await session.registerKey(await generateKeyPair(2048));
  return { name, session, api };
}

const users = [];
for (let i = 0; i < USERS; i++) users.push(await account(i));
const setupRequests = counts.requests;

// ---- the mix ----------------------------------------------------------------------------------------------------
const pick = (a) => a[Math.floor(Math.random() * a.length)];
const ops = [
  // [weight, name, fn(user, other)]
  [3, "login", (u) => new ApiClient({ baseUrl: SERVER, fetch: recordingFetch }).login(u.name, PASSWORD)],
  [3, "lookup user", (u, o) => u.api.lookupUser(o.name)],
  [3, "public key", (u, o) => u.api.publicKey(o.session.userId)],
  [4, "send", (u, o) => u.session.sendText(o.name, `soak ${counts.requests} ${"x".repeat(Math.floor(Math.random() * 2000))}`)],
  [2, "receive", (u) => u.api.receive(u.session.userId, { limit: 20, order: "desc" })],
  [1, "history", async (u, o) => u.session.history(o.name, { limit: 10, order: "desc" })],
  [2, "cheap 404", () => recordingFetch(`${SERVER}/api/users/nobody_${suffix}`, { headers: { authorization: "Bearer x" } })],
];
const weighted = ops.flatMap((op) => Array(op[0]).fill(op));
const opErrors = new Map();

async function worker() {
  while (!stop && counts.requests < TOTAL) {
    const u = pick(users);
    let o = pick(users);
    while (o === u) o = pick(users);
    const [, name, fn] = pick(weighted);
    try {
      await fn(u, o);
    } catch (e) {
      // Answers are already counted by recordingFetch; here we only note what kind of failure the client saw.
      const kind = e instanceof ApiError ? `${name}: ${e.status} ${e.code}` : e instanceof NetworkError ? `${name}: no answer` : `${name}: ${e?.name}: ${e?.message}`;
      opErrors.set(kind, (opErrors.get(kind) ?? 0) + 1);
    }
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
const seconds = (performance.now() - started) / 1000;

// ---- report -----------------------------------------------------------------------------------------------------
const statuses = [...counts.byStatus].sort().map(([s, n]) => `${s}:${n}`).join(" ");
console.log(`soak: ${counts.requests} requests (${setupRequests} of them setup) in ${seconds.toFixed(1)} s, ${CONCURRENCY} workers, ${USERS} users — ${(counts.requests / seconds).toFixed(0)} req/s`);
console.log(`soak: statuses ${statuses}`);
console.log(`soak: 5xx ${counts.foreign5xx + counts.json5xx} (not the API's JSON: ${counts.foreign5xx}, API JSON: ${counts.json5xx}); no answer: ${counts.noAnswer}`);
if (opErrors.size) console.log(`soak: client-side errors: ${[...opErrors].map(([k, n]) => `${k} ×${n}`).join("; ")}`);
for (const b of bad.slice(0, 20)) console.log("soak: bad answer", JSON.stringify(b));
const failed = counts.foreign5xx > 0 || counts.noAnswer > 0 || (STRICT && counts.json5xx > 0);
console.log(failed ? "soak: FAILED" : "soak: ok");
process.exit(failed ? 1 : 0);
