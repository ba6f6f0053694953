// Session on a keyring, against a scripted fake server: registration and rotation (proof, authorization by the
// old key, old key kept), messages sealed for an old key still open, own old signatures within their lifetime,
// refused keys dropped, and connect() with a store.
import "fake-indexeddb/auto";
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ApiClient, ApiError, Keyring, KvPinStore, Session, connect, openIndexedDbKvStore, InputError,
  generateKeyPair, importPublicKeyPem, importEncryptedPrivateKeyPem, keyOpInput, spkiPem, seal, chatId, fromBase64Strict,
} from "../../dist/index.js";

const U_A = "u_" + "a".repeat(32);
const U_B = "u_" + "b".repeat(32);
const [K1, K2, KB, KX] = await Promise.all([generateKeyPair(2048), generateKeyPair(2048), generateKeyPair(2048), generateKeyPair(2048)]);
const CHAT = await chatId(U_A, U_B);

const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const newStore = () => openIndexedDbKvStore(`test-${crypto.randomUUID()}`);

async function keyInfo(kp, status, extra = {}) {
  return { keyId: kp.keyId, fingerprint: "", bits: 2048, publicKey: await spkiPem(kp.publicKey.encryptKey), status, createdAt: 1, ...extra };
}
async function directory(userId, active, keys) {
  const a = keys.find((k) => k.keyId === active.keyId);
  return { userId, keyId: active.keyId, fingerprint: "", bits: 2048, publicKey: a.publicKey, createdAt: 1, keys };
}

/** routes: "METHOD /path" -> (init) => Response; records every call. */
function fakeApi(routes) {
  const calls = [];
  const f = async (url, init) => {
    const path = new URL(url).pathname;
    calls.push({ method: init.method, path, body: init.body ? JSON.parse(init.body) : undefined });
    const r = routes[`${init.method} ${path}`];
    return r ? r(init) : json(404, { error: { code: "not_found", message: path } });
  };
  return { api: new ApiClient({ baseUrl: "http://h", fetch: f, token: "t" }), calls };
}

/** The server's register-key: answers with the key's info (a real server computes the id the same way). */
async function registered(init) {
  const body = JSON.parse(init.body);
  const key = await importPublicKeyPem(body.publicKey);
  return json(201, { keyId: key.keyId, fingerprint: "", bits: 2048, publicKey: body.publicKey, status: "active", createdAt: body.createdAt });
}

async function pssValid(pub, b64, data) {
  return crypto.subtle.verify({ name: "RSA-PSS", saltLength: 32 }, pub.verifyKey, fromBase64Strict(b64), data);
}

let seq = 0;
async function stored({ from, signer, to, createdAt = 100, text }) {
  const id = (++seq).toString(16).padStart(32, "0");
  const { envelope } = await seal({
    senderId: from, messageId: `m_${id}`, createdAt, recipients: to.map(([userId, kp]) => ({ userId, publicKey: kp.publicKey })),
    plaintext: new TextEncoder().encode(text), ...(signer ? { signer } : {}),
  });
  const receiverId = from === U_A ? U_B : U_A;
  return { messageId: `m_${id}`, chatId: CHAT, senderId: from, receiverId, clientMessageId: `m_${id}`, envelope, createdAt, readAt: null };
}

test("registerKey then rotateKey: proof, authorization by the old key, both keys kept in the store", async () => {
  const kv = await newStore();
  const { api, calls } = fakeApi({ "POST /api/crypto/register-key": registered });
  const s = new Session({ api, userId: U_A, keyring: await Keyring.open(kv, U_A) });
  await s.registerKey(K1);
  const { keyPair: k2, info } = await s.rotateKey();
  assert.equal(info.keyId, k2.keyId);
  assert.equal(s.key.keyId, k2.keyId);
  const [first, second] = calls.map((c) => c.body);
  assert.equal(first.authorization, undefined);
  assert.ok(await pssValid(K1.publicKey, first.proof, keyOpInput("register", U_A, K1.keyId, first.createdAt)));
  const input = keyOpInput("register", U_A, k2.keyId, second.createdAt);
  assert.equal(second.authorization.keyId, K1.keyId);
  assert.ok(await pssValid(K1.publicKey, second.authorization.signature, input));
  assert.ok(await pssValid(k2.publicKey, second.proof, input));
  const reopened = await Keyring.open(kv, U_A);
  assert.equal(reopened.active.keyId, k2.keyId);
  assert.ok(reopened.get(K1.keyId), "the old key stays on the device");
});

test("rotateKey({exportPassphrase}) also returns the new key as an encrypted PEM that imports to the same key", async () => {
  const { api } = fakeApi({ "POST /api/crypto/register-key": registered });
  const s = new Session({ api, userId: U_A });
  await s.useKey(K1);
  const { keyPair, encryptedPem } = await s.rotateKey({ exportPassphrase: "backup pass" });
  assert.equal(s.key.keyId, keyPair.keyId);
  assert.equal((await importEncryptedPrivateKeyPem(encryptedPem, "backup pass")).keyId, keyPair.keyId);
  assert.equal((await s.rotateKey()).encryptedPem, undefined);
});

test("a key the server refuses is dropped from the keyring; one with no clear answer is kept, inactive", async () => {
  let answer = () => json(403, { error: { code: "authorization_required", message: "no" } });
  const { api } = fakeApi({ "POST /api/crypto/register-key": (init) => answer(init) });
  const s = new Session({ api, userId: U_A, sendRetryDelays: [] });
  await s.useKey(K1);
  await assert.rejects(s.registerKey(K2), (e) => e instanceof ApiError && e.code === "authorization_required");
  assert.equal(s.keyring.get(K2.keyId), undefined);
  assert.equal(s.key.keyId, K1.keyId);
  answer = () => new Response("bad gateway", { status: 502 });
  await assert.rejects(s.registerKey(K2), (e) => e instanceof ApiError && e.status === 502);
  assert.ok(s.keyring.get(K2.keyId), "the server may hold it: kept");
  assert.equal(s.key.keyId, K1.keyId);
  await assert.rejects(new Session({ api, userId: U_A }).rotateKey(), (e) => e instanceof InputError);
});

test("history after a rotation: messages sealed for the old key open, own old signatures verify within their lifetime", async () => {
  const msgs = [
    await stored({ from: U_B, signer: KB, to: [[U_A, K1], [U_B, KB]], text: "to the old key" }),
    await stored({ from: U_B, signer: KB, to: [[U_A, K2], [U_B, KB]], createdAt: 400, text: "to the new key" }),
    await stored({ from: U_A, signer: K1, to: [[U_B, KB], [U_A, K1]], createdAt: 150, text: "mine, before the rotation" }),
    await stored({ from: U_A, signer: K1, to: [[U_B, KB], [U_A, K1]], createdAt: 300, text: "mine, old key after it retired" }),
    await stored({ from: U_B, signer: KB, to: [[U_A, KX], [U_B, KB]], text: "for a key not on this device" }),
  ];
  const [kbInfo, k1Info, k2Info] = await Promise.all([keyInfo(KB, "active"), keyInfo(K1, "retired", { retiredAt: 200 }), keyInfo(K2, "active")]);
  const { api } = fakeApi({
    [`GET /api/messages/history/${CHAT}`]: () => json(200, { messages: msgs, nextCursor: null }),
    [`GET /api/crypto/public-key/${U_B}`]: async () => json(200, await directory(U_B, KB, [kbInfo])),
    [`GET /api/crypto/public-key/${U_A}`]: async () => json(200, await directory(U_A, K2, [k1Info, k2Info])),
  });
  const ring = Keyring.inMemory(U_A);
  await ring.add(K1);
  await ring.add(K2, { activate: true });
  const s = new Session({ api, userId: U_A, keyring: ring });
  const page = await s.history(CHAT);
  assert.deepEqual(
    page.messages.map((m) => [m.text, m.status, m.reason]),
    [
      ["to the old key", "verified", undefined],
      ["to the new key", "verified", undefined],
      ["mine, before the rotation", "verified", undefined],
      ["mine, old key after it retired", "unverified", "signed by a retired key after it was retired"],
      [null, "failed", "not_recipient"],
    ],
  );
});

test("useKey stores the key as active; a keyring of another account is refused", async () => {
  const kv = await newStore();
  const { api } = fakeApi({});
  const s = new Session({ api, userId: U_A, keyring: await Keyring.open(kv, U_A) });
  await s.useKey(K1);
  assert.equal((await Keyring.open(kv, U_A)).active.keyId, K1.keyId);
  assert.throws(() => new Session({ api, userId: U_B, keyring: s.keyring }), (e) => e instanceof InputError);
});

test("connect with a store: the account's keyring and pins live in it and come back on the next connect", async () => {
  const kv = await newStore();
  const routes = {
    "POST /api/auth/login": () => json(200, { token: "tok", tokenType: "Bearer", expiresAt: Date.now() + 3600e3, userId: U_A }),
    "POST /api/crypto/register-key": registered,
    "GET /api/users/bob": () => json(200, { userId: U_B, username: "bob", displayName: null }),
  };
  const first = await connect(fakeApi(routes).api, "alice", "pw", { store: kv });
  assert.ok(first.pins instanceof KvPinStore);
  await first.registerKey(K1);
  await first.lookup("bob");
  const second = await connect(fakeApi(routes).api, "alice", "pw", { store: kv });
  assert.equal(second.key.keyId, K1.keyId);
  assert.equal(await second.pins.getByUsername("BOB"), U_B);
});

test("activeKeyId: the listed active key's id computed from the key, fetched again each time; null without a usable one", async () => {
  let listing = async () => directory(U_B, K1, [await keyInfo(K1, "active")]);
  const { api, calls } = fakeApi({ [`GET /api/crypto/public-key/${U_B}`]: async () => json(200, await listing()) });
  const s = new Session({ api, userId: U_A });
  assert.equal(await s.activeKeyId(U_B), K1.keyId);
  listing = async () => directory(U_B, K2, [await keyInfo(K1, "retired"), await keyInfo(K2, "active")]);
  assert.equal(await s.activeKeyId(U_B), K2.keyId, "not cached");
  // listed under another key id than its own: not a usable key
  listing = async () => directory(U_B, K1, [await keyInfo(K2, "active", { keyId: K1.keyId })]);
  assert.equal(await s.activeKeyId(U_B), null);
  assert.equal(await s.activeKeyId(), null, "the own user by default; 404 (no key) is null");
  assert.equal(calls.at(-1).path, `/api/crypto/public-key/${U_A}`);
});
