// Unit tests of the API client without a server: error parsing, token handling and the 401 hook (injected fetch).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiClient, ApiError, NetworkError, apiErrorFrom, keyOpInput, generateKeyPair, spkiPem, importPublicKeyPem, MemoryPinStore, foldUsername } from "../../dist/index.js";

const json = (status, body, headers = {}) =>
  new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

function fakeFetch(answers) {
  const calls = [];
  const f = async (url, init) => {
    calls.push({ url, init });
    const a = answers.shift();
    if (!a) throw new TypeError("no more answers");
    return typeof a === "function" ? a(url, init) : a;
  };
  return { f, calls };
}

test("ApiError from the server's error body", async () => {
  const e = await apiErrorFrom(json(409, { error: { code: "username_taken", message: "taken" } }));
  assert.ok(e instanceof ApiError && e instanceof Error);
  assert.equal(e.status, 409);
  assert.equal(e.code, "username_taken");
  assert.equal(e.message, "taken");
  assert.equal(e.retryAfterSeconds, undefined);
});

test("non-JSON error body becomes http_<status>", async () => {
  const e = await apiErrorFrom(new Response("<html>bad gateway</html>", { status: 502 }));
  assert.equal(e.code, "http_502");
  assert.equal(e.status, 502);
  assert.equal(e.transient, true);
});

test("JSON without the error shape becomes http_<status>", async () => {
  const e = await apiErrorFrom(json(429, { message: "Too Many Requests" }, { "retry-after": "7" }));
  assert.equal(e.code, "http_429");
  assert.equal(e.retryAfterSeconds, 7);
});

test("Retry-After on 429 quota_exceeded", async () => {
  const { f } = fakeFetch([json(429, { error: { code: "quota_exceeded", message: "slow down" } }, { "retry-after": "12" })]);
  const api = new ApiClient({ baseUrl: "http://x/", fetch: f, token: "t" });
  await assert.rejects(api.lookupUser("bob"), (e) => e instanceof ApiError && e.code === "quota_exceeded" && e.retryAfterSeconds === 12);
});

test("a non-numeric Retry-After is ignored", async () => {
  const e = await apiErrorFrom(json(503, { error: { code: "store_unavailable", message: "x" } }, { "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT" }));
  assert.equal(e.retryAfterSeconds, undefined);
  assert.equal(e.code, "store_unavailable");
});

test("login stores the token, later requests send it, register/login send none", async () => {
  const { f, calls } = fakeFetch([
    json(200, { token: "tok1", tokenType: "Bearer", expiresAt: 1, userId: "u_" + "a".repeat(32) }),
    json(200, { userId: "u_" + "b".repeat(32), username: "bob", displayName: null }),
  ]);
  const api = new ApiClient({ baseUrl: "http://h:1", fetch: f });
  const r = await api.login("alice", "pw");
  assert.equal(r.token, "tok1");
  assert.equal(calls[0].init.headers.authorization, undefined);
  assert.equal(calls[0].url, "http://h:1/api/auth/login");
  assert.deepEqual(JSON.parse(calls[0].init.body), { username: "alice", password: "pw" });
  await api.lookupUser("bob");
  assert.equal(calls[1].init.headers.authorization, "Bearer tok1");
  assert.equal(calls[1].url, "http://h:1/api/users/bob");
});

test("onUnauthorized: one retry with the new token", async () => {
  const { f, calls } = fakeFetch([
    json(401, { error: { code: "unauthorized", message: "no" } }),
    json(200, { userId: "u_" + "b".repeat(32), username: "bob", displayName: null }),
  ]);
  let n = 0;
  const api = new ApiClient({ baseUrl: "http://h", fetch: f, token: "old", onUnauthorized: async () => (n++, "new") });
  const u = await api.lookupUser("bob");
  assert.equal(u.username, "bob");
  assert.equal(n, 1);
  assert.equal(calls[0].init.headers.authorization, "Bearer old");
  assert.equal(calls[1].init.headers.authorization, "Bearer new");
});

test("onUnauthorized returning null throws the 401 ApiError without a retry", async () => {
  const { f, calls } = fakeFetch([json(401, { error: { code: "unauthorized", message: "no" } })]);
  const api = new ApiClient({ baseUrl: "http://h", fetch: f, token: "old", onUnauthorized: async () => null });
  await assert.rejects(api.lookupUser("bob"), (e) => e instanceof ApiError && e.status === 401 && e.code === "unauthorized");
  assert.equal(calls.length, 1);
});

test("a second 401 after the hook is thrown, the hook is called once", async () => {
  const { f, calls } = fakeFetch([
    json(401, { error: { code: "unauthorized", message: "a" } }),
    json(401, { error: { code: "unauthorized", message: "b" } }),
  ]);
  let n = 0;
  const api = new ApiClient({ baseUrl: "http://h", fetch: f, token: "old", onUnauthorized: async () => (n++, "new") });
  await assert.rejects(api.lookupUser("bob"), (e) => e instanceof ApiError && e.status === 401 && e.message === "b");
  assert.equal(n, 1);
  assert.equal(calls.length, 2);
});

test("401 on login does not call the hook", async () => {
  const { f } = fakeFetch([json(401, { error: { code: "invalid_credentials", message: "no" } })]);
  let n = 0;
  const api = new ApiClient({ baseUrl: "http://h", fetch: f, onUnauthorized: async () => (n++, "x") });
  await assert.rejects(api.login("a", "b"), (e) => e.code === "invalid_credentials" && e.status === 401);
  assert.equal(n, 0);
});

test("a fetch failure is a NetworkError and carries no token", async () => {
  const api = new ApiClient({ baseUrl: "http://h", fetch: async () => { throw new TypeError("boom"); }, token: "secret-token" });
  await assert.rejects(api.lookupUser("bob"), (e) => e instanceof NetworkError && !String(e.message).includes("secret-token"));
});

test("path parameters are escaped, paging query built", async () => {
  const { f, calls } = fakeFetch([json(200, { messages: [], nextCursor: null })]);
  const api = new ApiClient({ baseUrl: "http://h", fetch: f, token: "t" });
  await api.history("c_x/../y", { limit: 5, cursor: "a.b+c", order: "desc" });
  assert.equal(calls[0].url, "http://h/api/messages/history/c_x%2F..%2Fy?limit=5&cursor=a.b%2Bc&order=desc");
});

test("keyOpInput layout", () => {
  const b = keyOpInput("register", "u_1", "ab", 258);
  const hex = Buffer.from(b).toString("hex");
  const f = (s) => Buffer.from([0, 0, 0, s.length]).toString("hex") + Buffer.from(s).toString("hex");
  assert.equal(hex, f("e2ee.key-op.v1") + f("register") + f("u_1") + f("ab") + "0000000000000102");
});

test("generateKeyPair: non-extractable private keys, public PEM round trip, sign/verify and OAEP", async () => {
  const kp = await generateKeyPair(2048);
  assert.equal(kp.modulusBits, 2048);
  assert.equal(kp.decryptKey.extractable, false);
  assert.equal(kp.signKey.extractable, false);
  assert.deepEqual(kp.decryptKey.usages, ["decrypt"]);
  assert.deepEqual(kp.signKey.usages, ["sign"]);
  const pub = await importPublicKeyPem(await spkiPem(kp.publicKey.encryptKey));
  assert.equal(pub.keyId, kp.keyId);
  const data = new TextEncoder().encode("x");
  const sig = await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 32 }, kp.signKey, data);
  assert.ok(await crypto.subtle.verify({ name: "RSA-PSS", saltLength: 32 }, pub.verifyKey, sig, data));
  const ct = await crypto.subtle.encrypt({ name: "RSA-OAEP" }, pub.encryptKey, data);
  assert.deepEqual(new Uint8Array(await crypto.subtle.decrypt({ name: "RSA-OAEP" }, kp.decryptKey, ct)), data);
  await assert.rejects(generateKeyPair(1024));
});

test("MemoryPinStore by user id and folded username", async () => {
  const s = new MemoryPinStore();
  await s.putUsername("Bob", "u_1");
  assert.equal(await s.getByUsername("BOB"), "u_1");
  await s.put({ userId: "u_1", username: "Bob", keyId: "k", knownKeyIds: [], firstSeen: 1 });
  const p = await s.get("u_1");
  p.knownKeyIds.push("z");
  assert.deepEqual((await s.get("u_1")).knownKeyIds, []);
  assert.equal(foldUsername("ÄBC"), "äbc");
});

// --- Session rules against a scripted fake server --------------------------------------------------------------

import { Session, IdentityChangedError, KeyChangedError } from "../../dist/index.js";

const U_A = "u_" + "a".repeat(32);
const U_B = "u_" + "b".repeat(32);
const U_C = "u_" + "c".repeat(32);

async function keyResponse(userId, kp) {
  const pem = await spkiPem(kp.publicKey.encryptKey);
  const info = { keyId: kp.keyId, fingerprint: "", bits: 2048, publicKey: pem, status: "active", createdAt: 1 };
  return { userId, keyId: kp.keyId, fingerprint: "", bits: 2048, publicKey: pem, createdAt: 1, keys: [info] };
}

/** A tiny router: routes[key] is an array of responses consumed in order (the last one repeats). */
function router(routes) {
  const calls = [];
  const f = async (url, init) => {
    const path = new URL(url).pathname;
    calls.push({ method: init.method, path, body: init.body });
    const r = routes[`${init.method} ${path}`];
    if (!r) return json(404, { error: { code: "not_found", message: path } });
    const next = r.length > 1 ? r.shift() : r[0];
    return typeof next === "function" ? next(init) : json(next[0], next[1]);
  };
  return { f, calls };
}

test("Session: transient send failures repeat the identical envelope", async () => {
  const [ka, kb] = await Promise.all([generateKeyPair(2048), generateKeyPair(2048)]);
  const { f, calls } = router({
    [`GET /api/users/bob`]: [[200, { userId: U_B, username: "bob", displayName: null }]],
    [`GET /api/crypto/public-key/${U_B}`]: [[200, await keyResponse(U_B, kb)]],
    [`POST /api/messages/send`]: [
      () => new Response("gateway", { status: 503 }),
      () => { throw new TypeError("reset"); },
      (init) => json(200, { messageId: "m_" + "1".repeat(32), chatId: "c_" + "2".repeat(64), clientMessageId: JSON.parse(init.body).envelope.messageId, createdAt: 5 }),
    ],
  });
  const s = new Session({ api: new ApiClient({ baseUrl: "http://h", fetch: f, token: "t" }), userId: U_A, sendRetryDelays: [1, 1] });
  await s.useKey(ka);
  const r = await s.sendText("bob", "hi");
  assert.equal(r.created, false);
  const sends = calls.filter((c) => c.path === "/api/messages/send").map((c) => c.body);
  assert.equal(sends.length, 3);
  assert.equal(sends[1], sends[0]);
  assert.equal(sends[2], sends[0]);
  const env = JSON.parse(sends[0]).envelope;
  assert.deepEqual(env.recipients.map((x) => [x.userId, x.keyId]), [[U_B, kb.keyId], [U_A, ka.keyId]]);
  assert.equal(env.signature.keyId, ka.keyId);
});

test("Session: a username pinned to another user id is refused; a changed key throws KeyChangedError", async () => {
  const [ka, kb, kb2] = await Promise.all([generateKeyPair(2048), generateKeyPair(2048), generateKeyPair(2048)]);
  const pins = new MemoryPinStore();
  const users = [[200, { userId: U_B, username: "bob", displayName: null }], [200, { userId: U_C, username: "Bob", displayName: null }]];
  const { f } = router({
    [`GET /api/users/bob`]: users,
    [`GET /api/crypto/public-key/${U_B}`]: [[200, await keyResponse(U_B, kb)], [200, await keyResponse(U_B, kb2)]],
    [`POST /api/messages/send`]: [[201, { messageId: "m_" + "1".repeat(32), chatId: "c_" + "2".repeat(64), clientMessageId: "x", createdAt: 5 }]],
  });
  const s = new Session({ api: new ApiClient({ baseUrl: "http://h", fetch: f, token: "t" }), userId: U_A, pins });
  await s.useKey(ka);
  await s.sendText("bob", "first");
  assert.equal((await pins.get(U_B)).keyId, kb.keyId);
  await assert.rejects(s.sendText("bob", "again"), (e) => e instanceof IdentityChangedError && e.pinnedUserId === U_B && e.userId === U_C);
  // key change: a new session (fresh directory cache), same pins, lookup now answers U_B again
  users.unshift([200, { userId: U_B, username: "bob", displayName: null }]);
  const s2 = new Session({ api: new ApiClient({ baseUrl: "http://h", fetch: f, token: "t" }), userId: U_A, pins });
  await s2.useKey(ka);
  await assert.rejects(s2.sendText("bob", "changed?"), (e) => e instanceof KeyChangedError && e.oldKeyId === kb.keyId && e.newKeyId === kb2.keyId);
  await s2.acceptKeyChange(U_B);
  const p = await pins.get(U_B);
  assert.equal(p.keyId, kb2.keyId);
  assert.deepEqual(p.knownKeyIds, [kb.keyId]);
});
