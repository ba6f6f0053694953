// SealedKvStore and openSealedStore (review N9): values encrypted at rest (nothing readable in the underlying store),
// the lossless serialization and what it refuses, the data key wrapped under the password (wrong password refused,
// nothing overwritten; non-extractable in memory; password change), records bound to their key name, tampering
// refused, and the migration of plaintext MLS records written before sealing. Over MemoryKvStore and IndexedDB
// (fake-indexeddb).
import "fake-indexeddb/auto";
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  openIndexedDbKvStore, MemoryKvStore, SealedKvStore, openSealedStore, changeSealedStorePassword, isSealedRecord, sealedKeyName,
  mlsPrefix, SEALED_PBKDF2_ITERATIONS, StorageError, InputError, generateKeyPair, toBase64, toHex, unlockSealedKey,
} from "../../dist/index.js";
import * as core from "../../dist/core.js";

const PW = "correct horse battery staple 42";
const stores = {
  memory: async () => new MemoryKvStore(),
  indexeddb: async () => openIndexedDbKvStore(`sealed-${crypto.randomUUID()}`),
};
const enc = new TextEncoder();

/** Every Uint8Array and string inside a stored (raw) value. */
function leaves(v, out = { bytes: [], strings: [] }) {
  if (v instanceof Uint8Array) out.bytes.push(v);
  else if (v instanceof ArrayBuffer) out.bytes.push(new Uint8Array(v));
  else if (typeof v === "string") out.strings.push(v);
  else if (v && typeof v === "object") for (const x of v instanceof Map ? v.values() : Object.values(v)) leaves(x, out);
  return out;
}

function containsBytes(hay, needle) {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/**
 * Whether any raw record of `kv` shows `needle` (a string: as UTF-8 bytes or inside a string; bytes: as they are,
 * or as base64 or hex text, how a JSON dump would show them).
 */
async function rawShows(kv, needle) {
  const byteNeedles = typeof needle === "string" ? [enc.encode(needle)] : [needle, enc.encode(toBase64(needle)), enc.encode(toHex(needle))];
  const stringNeedles = typeof needle === "string" ? [needle] : [toBase64(needle), toHex(needle)];
  for (const k of await kv.keys("")) {
    const { bytes, strings } = leaves(await kv.get(k));
    if (bytes.some((b) => byteNeedles.some((n) => containsBytes(b, n)))) return k;
    if (strings.some((s) => stringNeedles.some((n) => s.includes(n)))) return k;
  }
  return null;
}

const userId = () => `u_${crypto.randomUUID().slice(0, 8)}`;

for (const [kind, make] of Object.entries(stores)) {
  test(`${kind}: round trip of MLS-shaped values; nothing of them readable in the underlying store`, async () => {
    const kv = await make();
    const uid = userId();
    const store = await openSealedStore(kv, uid, PW);
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const device = { version: 1, userId: uid, deviceId: "web-1", keys: { signKey: seed, publicKey: new Uint8Array(32).fill(7) }, createdAt: 1700000000000 };
    const group = {
      version: 1,
      state: crypto.getRandomValues(new Uint8Array(5000)),
      meta: { name: "team", after: null, sentSinceUpdate: 0, updatedAt: 1, leaveRequests: [], messages: [{ seq: 3, sender: "bob", text: "the launch code is 0000", epoch: 1, status: "ok" }, { seq: 4, status: "failed", reason: "x", text: undefined }] },
    };
    await store.put(`${mlsPrefix(uid)}device`, device);
    await store.put(`${mlsPrefix(uid)}group/g1`, group);
    assert.deepEqual(await store.get(`${mlsPrefix(uid)}device`), device);
    const back = await store.get(`${mlsPrefix(uid)}group/g1`);
    assert.deepEqual(back, group);
    assert.ok(back.state instanceof Uint8Array && "text" in back.meta.messages[1], "bytes stay bytes, an undefined field stays");
    assert.equal(await rawShows(kv, "the launch code"), null);
    assert.equal(await rawShows(kv, seed), null);
    assert.equal(await rawShows(kv, "team"), null);
    const raw = await kv.get(`${mlsPrefix(uid)}device`);
    assert.ok(isSealedRecord(raw));
    assert.deepEqual(Object.keys(raw).sort(), ["ct", "nonce", "v"]);
    assert.equal(raw.v, 1);
    assert.equal(raw.nonce.length, 12);
    // keys and delete go to the underlying store; the record names are not encrypted
    assert.deepEqual(await store.keys(mlsPrefix(uid)), [`${mlsPrefix(uid)}device`, `${mlsPrefix(uid)}group/g1`]);
    await store.delete(`${mlsPrefix(uid)}device`);
    assert.equal(await store.get(`${mlsPrefix(uid)}device`), undefined);
    assert.equal(await kv.get(`${mlsPrefix(uid)}device`), undefined);
    // each write has a fresh nonce
    await store.put("x", 1);
    const n1 = (await kv.get("x")).nonce;
    await store.put("x", 1);
    assert.notDeepEqual((await kv.get("x")).nonce, n1);
  });

  test(`${kind}: the data key is non-extractable and stored only wrapped (PBKDF2-SHA-256, >= 600 000 rounds, 16-byte salt)`, async () => {
    const kv = await make();
    const uid = userId();
    const store = await openSealedStore(kv, uid, PW);
    assert.equal(store.key.extractable, false);
    assert.equal(store.key.algorithm.name, "AES-GCM");
    assert.equal(store.key.algorithm.length, 256);
    await assert.rejects(crypto.subtle.exportKey("raw", store.key));
    const rec = await kv.get(sealedKeyName(uid));
    assert.equal(sealedKeyName(uid), `sealed/${encodeURIComponent(uid)}/key`);
    assert.equal(rec.kdf, "PBKDF2-SHA-256");
    assert.ok(rec.iterations >= 600_000 && rec.iterations === SEALED_PBKDF2_ITERATIONS);
    assert.equal(rec.salt.length, 16);
    assert.equal(rec.wrapped.length, 48, "a 32-byte key and the GCM tag");
    assert.equal(rec.migrated, true);
    // The stored ciphertext of a known value opens with the key unwrapped from the record by the password alone.
    await store.put("probe", "hello");
    const again = await openSealedStore(kv, uid, PW);
    assert.equal(await again.get("probe"), "hello");
    assert.deepEqual(await kv.get(sealedKeyName(uid)), rec, "opening again changes nothing");
  });

  test(`${kind}: a wrong password is refused with wrong_password and nothing is overwritten`, async () => {
    const kv = await make();
    const uid = userId();
    const store = await openSealedStore(kv, uid, PW);
    await store.put(`${mlsPrefix(uid)}device`, { secret: new Uint8Array([1, 2, 3]) });
    const before = await kv.get(sealedKeyName(uid));
    await assert.rejects(openSealedStore(kv, uid, "not the password"), (e) => e instanceof StorageError && e.code === "wrong_password");
    assert.deepEqual(await kv.get(sealedKeyName(uid)), before);
    assert.deepEqual(await (await openSealedStore(kv, uid, PW)).get(`${mlsPrefix(uid)}device`), { secret: new Uint8Array([1, 2, 3]) });
    // another account's key record is another key: its password does not open this one's records
    const other = await openSealedStore(kv, userId(), PW);
    await assert.rejects(other.get(`${mlsPrefix(uid)}device`), (e) => e instanceof StorageError && e.code === "corrupt_record");
  });

  test(`${kind}: a record moved under another key name, tampered, truncated or replaced by plaintext is corrupt_record`, async () => {
    const kv = await make();
    const uid = userId();
    const store = await openSealedStore(kv, uid, PW);
    const p = mlsPrefix(uid);
    await store.put(`${p}group/a`, { messages: ["for group a"] });
    await store.put(`${p}group/b`, { messages: ["for group b"] });
    const rawA = await kv.get(`${p}group/a`);
    await kv.put(`${p}group/b`, rawA); // moved (copied) under another name
    await assert.rejects(store.get(`${p}group/b`), (e) => e instanceof StorageError && e.code === "corrupt_record" && !/group a/.test(e.message));
    for (const change of [
      (r) => ({ ...r, ct: r.ct.map((b, i) => (i === 5 ? b ^ 1 : b)) }),
      (r) => ({ ...r, nonce: r.nonce.map((b, i) => (i === 0 ? b ^ 0x80 : b)) }),
      (r) => ({ ...r, ct: r.ct.slice(0, r.ct.length - 1) }),
      (r) => ({ ...r, ct: r.ct.slice(0, 10) }),
      (r) => ({ ...r, v: 2 }),
      () => ({ messages: ["plaintext put here"] }),
      () => "a string",
    ]) {
      await kv.put(`${p}group/a`, change(rawA));
      await assert.rejects(store.get(`${p}group/a`), (e) => e instanceof StorageError && e.code === "corrupt_record");
    }
    await kv.put(`${p}group/a`, rawA);
    assert.deepEqual(await store.get(`${p}group/a`), { messages: ["for group a"] });
  });

  test(`${kind}: a changed wrapped-key record is refused, never used`, async () => {
    const kv = await make();
    const uid = userId();
    await openSealedStore(kv, uid, PW);
    const rec = await kv.get(sealedKeyName(uid));
    await kv.put(sealedKeyName(uid), { ...rec, iterations: 1000 });
    await assert.rejects(openSealedStore(kv, uid, PW), (e) => e instanceof StorageError && e.code === "corrupt_record");
    await kv.put(sealedKeyName(uid), { ...rec, wrapped: rec.wrapped.map((b, i) => (i === 0 ? b ^ 1 : b)) });
    await assert.rejects(openSealedStore(kv, uid, PW), (e) => e instanceof StorageError && e.code === "wrong_password");
    // bound to the account: another account's record copied here does not unwrap
    const uid2 = userId();
    await openSealedStore(kv, uid2, PW);
    await kv.put(sealedKeyName(uid), await kv.get(sealedKeyName(uid2)));
    await assert.rejects(openSealedStore(kv, uid, PW), (e) => e instanceof StorageError && e.code === "wrong_password");
  });

  test(`${kind}: plaintext MLS records from before sealing are encrypted in place on first open, other records untouched`, async () => {
    const kv = await make();
    const uid = userId();
    const p = mlsPrefix(uid);
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const legacy = {
      [`${p}device`]: { version: 1, userId: uid, deviceId: "web-1", keys: { signKey: seed, publicKey: new Uint8Array(32) }, createdAt: 5 },
      [`${p}kp/ref1`]: { ref: "ref1", encoded: "AAAA", initPrivateKey: new Uint8Array([9, 9]), hpkePrivateKey: new Uint8Array([8]), lastResort: false, notAfter: 9 },
      [`${p}group/g`]: { version: 1, state: new Uint8Array([1, 2]), meta: { messages: [{ text: "old plaintext message" }] } },
    };
    for (const [k, v] of Object.entries(legacy)) await kv.put(k, v);
    await kv.put(`page/${uid}/groups`, true);
    await kv.put(`mls/${uid}x/device`, { other: "account" }); // another prefix: not touched
    const store = await openSealedStore(kv, uid, PW);
    for (const [k, v] of Object.entries(legacy)) {
      assert.ok(isSealedRecord(await kv.get(k)), k);
      assert.deepEqual(await store.get(k), v);
    }
    assert.equal(await rawShows(kv, seed), null);
    assert.equal(await rawShows(kv, "old plaintext message"), null);
    assert.equal(await kv.get(`page/${uid}/groups`), true);
    assert.deepEqual(await kv.get(`mls/${uid}x/device`), { other: "account" });
    // Once migrated, a plaintext record put there later is refused, not taken in.
    await kv.put(`${p}group/h`, { version: 1, state: new Uint8Array([1]), meta: { messages: [] } });
    await openSealedStore(kv, uid, PW);
    assert.ok(!isSealedRecord(await kv.get(`${p}group/h`)));
    await assert.rejects(store.get(`${p}group/h`), (e) => e instanceof StorageError && e.code === "corrupt_record");
  });

  test(`${kind}: a migration cut short is finished at the next open`, async () => {
    const kv = await make();
    const uid = userId();
    const p = mlsPrefix(uid);
    const store = await openSealedStore(kv, uid, PW);
    await store.put(`${p}group/a`, { sealed: "already" });
    await kv.put(`${p}group/b`, { plain: "still" });
    await kv.put(sealedKeyName(uid), { ...(await kv.get(sealedKeyName(uid))), migrated: false }); // as if it crashed
    const again = await openSealedStore(kv, uid, PW);
    assert.deepEqual(await again.get(`${p}group/a`), { sealed: "already" });
    assert.deepEqual(await again.get(`${p}group/b`), { plain: "still" });
    assert.equal((await kv.get(sealedKeyName(uid))).migrated, true);
  });

  test(`${kind}: unlockSealedKey at sign-in, openSealedStore with that key later (the page): same records, same refusals`, async () => {
    const kv = await make();
    const uid = userId();
    const p = mlsPrefix(uid);
    await kv.put(`${p}device`, { seed: new Uint8Array([7, 7, 7]) }); // written before sealing existed
    // Sign-in: the key is created, wrapped, and unwrapped non-extractable; nothing is migrated yet.
    const key = await unlockSealedKey(kv, uid, PW);
    assert.equal(key.extractable, false);
    assert.deepEqual([key.algorithm.name, key.algorithm.length, [...key.usages].sort()], ["AES-GCM", 256, ["decrypt", "encrypt"]]);
    await assert.rejects(crypto.subtle.exportKey("raw", key));
    const rec = await kv.get(sealedKeyName(uid));
    assert.equal(rec.migrated, false);
    assert.ok(!isSealedRecord(await kv.get(`${p}device`)));
    // Group chats open: the store with that key seals the old plaintext record once.
    const store = await openSealedStore(kv, uid, key);
    assert.equal(store.key, key);
    assert.ok(isSealedRecord(await kv.get(`${p}device`)));
    assert.equal((await kv.get(sealedKeyName(uid))).migrated, true);
    assert.deepEqual(await store.get(`${p}device`), { seed: new Uint8Array([7, 7, 7]) });
    await store.put(`${p}group/g`, { text: "hello" });
    // The next sign-in unwraps the same key (the store opened with the password reads what the key wrote) ...
    const again = await unlockSealedKey(kv, uid, PW);
    assert.deepEqual(await (await openSealedStore(kv, uid, again)).get(`${p}group/g`), { text: "hello" });
    assert.deepEqual(await (await openSealedStore(kv, uid, PW)).get(`${p}group/g`), { text: "hello" });
    assert.equal((await kv.get(sealedKeyName(uid))).salt.length, 16);
    assert.deepEqual((await kv.get(sealedKeyName(uid))).wrapped, rec.wrapped, "unwrapped, never re-wrapped");
    // ... another password is refused, nothing written; a tampered record too.
    await assert.rejects(unlockSealedKey(kv, uid, "not the password"), (e) => e instanceof StorageError && e.code === "wrong_password");
    await kv.put(sealedKeyName(uid), { ...rec, migrated: true, iterations: 599_999 });
    await assert.rejects(unlockSealedKey(kv, uid, PW), (e) => e instanceof StorageError && e.code === "corrupt_record");
    // A key of another account does not read these records; a store opened with a key but no key record stored
    // (the site's data cleared meanwhile) is refused.
    const other = await unlockSealedKey(kv, userId(), PW);
    await kv.put(sealedKeyName(uid), { ...rec, migrated: true });
    await assert.rejects((await openSealedStore(kv, uid, other)).get(`${p}group/g`), (e) => e instanceof StorageError && e.code === "corrupt_record");
    const empty = await make();
    await assert.rejects(openSealedStore(empty, uid, key), (e) => e instanceof StorageError && e.code === "corrupt_record");
    // The SDK core (without MLS, what the page's 1:1 chat imports) has the key part only, not the store.
    assert.equal(core.unlockSealedKey, unlockSealedKey);
    assert.equal(core.openSealedStore, undefined);
    assert.equal(core.SealedKvStore, undefined);
  });

  test(`${kind}: a password change re-wraps the same data key; the old password no longer opens it`, async () => {
    const kv = await make();
    const uid = userId();
    const store = await openSealedStore(kv, uid, PW);
    await store.put("k", { a: 1 });
    await assert.rejects(changeSealedStorePassword(kv, uid, "wrong", "new password 1"), (e) => e.code === "wrong_password");
    const salt = (await kv.get(sealedKeyName(uid))).salt;
    await changeSealedStorePassword(kv, uid, PW, "new password 1");
    assert.notDeepEqual((await kv.get(sealedKeyName(uid))).salt, salt, "a fresh salt");
    await assert.rejects(openSealedStore(kv, uid, PW), (e) => e.code === "wrong_password");
    const after = await openSealedStore(kv, uid, "new password 1");
    assert.deepEqual(await after.get("k"), { a: 1 });
    assert.equal(after.key.extractable, false);
  });
}

test("values that JSON cannot carry losslessly are refused with InputError, nothing stored", async () => {
  const kv = new MemoryKvStore();
  const store = await openSealedStore(kv, userId(), PW);
  const kp = await generateKeyPair(2048);
  const cyclic = { a: 1 };
  cyclic.self = cyclic;
  let deep = {};
  for (let i = 0; i < 100; i++) deep = { deep };
  for (const bad of [kp, { key: kp.signKey }, [kp.decryptKey], new Map([["a", 1]]), new Date(0), new Uint16Array(2), NaN, Infinity, 10n, () => 1, Symbol("s"), cyclic, deep, new (class Thing {})()]) {
    await assert.rejects(store.put("bad", bad), (e) => e instanceof InputError && e.code === "invalid_input", String(bad?.constructor?.name ?? typeof bad));
  }
  assert.deepEqual(await kv.keys("bad"), []);
});

test("the encoding is lossless for what it accepts: $-keys, __proto__, nested bytes, ArrayBuffer, undefined, holes", async () => {
  const store = await openSealedStore(new MemoryKvStore(), userId(), PW);
  const tricky = JSON.parse('{"__proto__": {"x": 1}}');
  const values = [
    null, undefined, 0, -1.5, "", "\u0000\u202e\ud83d\ude00", true, [], {}, [undefined, null, 1],
    { $b: "AAAA" }, { $u: 0 }, { $$b: 1, $: 2, $$: { $a: [new Uint8Array(0)] } },
    { bytes: new Uint8Array([0, 255]), buf: new Uint8Array([1, 2, 3]).buffer, nested: [[new Uint8Array(1)]] },
    tricky, Object.assign(Object.create(null), { a: 1 }),
  ];
  for (const v of values) {
    await store.put("v", v);
    const got = await store.get("v");
    if (v === undefined) {
      assert.equal(got, undefined);
      continue;
    }
    assert.deepEqual(JSON.stringify(got, (_, x) => (x instanceof Uint8Array ? [...x] : x instanceof ArrayBuffer ? ["AB", ...new Uint8Array(x)] : x)), JSON.stringify(v, (_, x) => (x instanceof Uint8Array ? [...x] : x instanceof ArrayBuffer ? ["AB", ...new Uint8Array(x)] : x)));
  }
  await store.put("p", tricky);
  const back = await store.get("p");
  assert.equal(Object.getPrototypeOf(back), Object.prototype, "__proto__ stays an own key, the prototype is not set");
  assert.deepEqual(Object.getOwnPropertyDescriptor(back, "__proto__").value, { x: 1 });
  await store.put("ab", new Uint8Array([4, 5]).buffer);
  assert.ok((await store.get("ab")) instanceof ArrayBuffer);
  await store.put("holes", [1, , 3]); // eslint-disable-line no-sparse-arrays
  assert.deepEqual(await store.get("holes"), [1, undefined, 3]);
});

test("bad arguments: an empty password, a bad user id, a key that is not AES-GCM", async () => {
  const kv = new MemoryKvStore();
  await assert.rejects(openSealedStore(kv, userId(), ""), (e) => e instanceof InputError);
  await assert.rejects(openSealedStore(kv, userId(), "lone \ud800 surrogate"), (e) => e instanceof InputError);
  await assert.rejects(openSealedStore(kv, "", PW), (e) => e instanceof InputError);
  await assert.rejects(unlockSealedKey(kv, userId(), ""), (e) => e instanceof InputError);
  await assert.rejects(unlockSealedKey(kv, userId(), "lone \udc00 surrogate"), (e) => e instanceof InputError);
  await assert.rejects(unlockSealedKey(kv, "", PW), (e) => e instanceof InputError);
  const hmac = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  assert.throws(() => new SealedKvStore(kv, hmac), (e) => e instanceof InputError && e.code === "invalid_key");
  await assert.rejects(openSealedStore(kv, userId(), hmac), (e) => e instanceof InputError && e.code === "invalid_key");
  assert.deepEqual(await kv.keys(""), []);
});
