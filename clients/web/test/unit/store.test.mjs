// IndexedDbKvStore (over fake-indexeddb) against the KvStore contract, side by side with MemoryKvStore; CryptoKeys
// through structured clone; the typed errors of opening, closing and failed transactions.
import "fake-indexeddb/auto";
import { test } from "node:test";
import assert from "node:assert/strict";
import { openIndexedDbKvStore, IndexedDbKvStore, MemoryKvStore, StorageError, InputError, generateKeyPair, seal, open } from "../../dist/index.js";

const dbName = () => `test-${crypto.randomUUID()}`;
const stores = {
  memory: async () => new MemoryKvStore(),
  indexeddb: async () => openIndexedDbKvStore(dbName()),
};

/** Resolves with the raw IDBDatabase of a plain indexedDB.open (for setting up what the SDK must cope with). */
function rawOpen(name, version, upgrade = () => {}) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, version);
    req.onupgradeneeded = () => upgrade(req.result);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

for (const [kind, make] of Object.entries(stores)) {
  test(`${kind}: get/put/delete round trip; values are copies both ways`, async () => {
    const kv = await make();
    assert.equal(await kv.get("nope"), undefined);
    const value = { n: 1, bytes: new Uint8Array([1, 2, 3]), nested: { list: ["a", null] }, map: new Map([["k", 2]]) };
    await kv.put("x", value);
    value.n = 2;
    value.bytes[0] = 9;
    const got = await kv.get("x");
    assert.deepEqual(got, { n: 1, bytes: new Uint8Array([1, 2, 3]), nested: { list: ["a", null] }, map: new Map([["k", 2]]) });
    got.n = 3;
    assert.equal((await kv.get("x")).n, 1);
    await kv.put("x", "replaced");
    assert.equal(await kv.get("x"), "replaced");
    await kv.delete("x");
    assert.equal(await kv.get("x"), undefined);
    await kv.delete("x"); // deleting a missing key is fine
    await kv.put("", 0); // the empty string is a key like any other
    assert.equal(await kv.get(""), 0);
  });

  test(`${kind}: keys(prefix) lists exactly the keys with that prefix, ascending by UTF-16 code units`, async () => {
    const kv = await make();
    const all = ["a", "a/", "a/b", "a/b/c", "a0", "a.", "a/\u{1F600}", "a/\uffff", "a/\uffff\uffffz", "\uffff", "\uffff\uffff", "b", "A/x"];
    for (const k of [...all].reverse()) await kv.put(k, k.length);
    const sorted = [...all].sort(); // JS sorts strings by UTF-16 code units, as IndexedDB orders them
    assert.deepEqual(await kv.keys(""), sorted);
    assert.deepEqual(await kv.keys("a/"), ["a/", "a/b", "a/b/c", "a/\u{1F600}", "a/\uffff", "a/\uffff\uffffz"]);
    assert.deepEqual(await kv.keys("a/\uffff"), ["a/\uffff", "a/\uffff\uffffz"]);
    assert.deepEqual(await kv.keys("\uffff"), ["\uffff", "\uffff\uffff"]);
    assert.deepEqual(await kv.keys("a/b/"), ["a/b/c"]);
    assert.deepEqual(await kv.keys("c"), []);
  });

  test(`${kind}: non-extractable CryptoKeys come back non-extractable and still work`, async () => {
    const kv = await make();
    const kp = await generateKeyPair(2048);
    await kv.put("k", kp);
    const back = await kv.get("k");
    for (const key of [back.decryptKey, back.signKey]) {
      assert.ok(key instanceof CryptoKey);
      assert.equal(key.extractable, false);
      await assert.rejects(crypto.subtle.exportKey("pkcs8", key));
    }
    assert.deepEqual(back.decryptKey.usages, ["decrypt"]);
    assert.deepEqual(back.signKey.usages, ["sign"]);
    assert.equal(back.keyId, kp.keyId);
    const { json } = await seal({
      senderId: "u_a", messageId: "m_1", createdAt: 1, recipients: [{ userId: "u_a", publicKey: back.publicKey }],
      plaintext: new TextEncoder().encode("kept"), signer: back,
    });
    const r = await open(json, { readerPrivateKey: back.decryptKey, readerKeyId: back.keyId, senderPublicKey: kp.publicKey });
    assert.equal(new TextDecoder().decode(r.plaintext), "kept");
    assert.equal(r.signatureVerified, true);
  });
}

test("indexeddb: data outlives the connection (a resolved put is committed)", async () => {
  const name = dbName();
  const kv = await openIndexedDbKvStore(name);
  await kv.put("p", { v: 7 });
  kv.close();
  const again = await openIndexedDbKvStore(name);
  assert.deepEqual(await again.get("p"), { v: 7 });
  assert.ok(again instanceof IndexedDbKvStore);
});

test("indexeddb: keys must be strings; a non-string key written by something else is corrupt_record", async () => {
  const name = dbName();
  const kv = await openIndexedDbKvStore(name);
  await assert.rejects(kv.put(1, "x"), (e) => e instanceof InputError && e.code === "invalid_input");
  await assert.rejects(kv.get(undefined), (e) => e instanceof InputError);
  await assert.rejects(kv.keys(null), (e) => e instanceof InputError);
  const raw = await rawOpen(name, 1);
  await new Promise((resolve, reject) => {
    const tx = raw.transaction("kv", "readwrite");
    tx.objectStore("kv").put("v", 42);
    tx.oncomplete = resolve;
    tx.onabort = () => reject(tx.error);
  });
  raw.close();
  await assert.rejects(kv.keys(""), (e) => e instanceof StorageError && e.code === "corrupt_record");
});

test("indexeddb: a value that cannot be cloned is StorageError not_cloneable, and nothing is written", async () => {
  const kv = await openIndexedDbKvStore(dbName());
  await assert.rejects(kv.put("f", { f: () => 1 }), (e) => e instanceof StorageError && e.code === "not_cloneable");
  assert.deepEqual(await kv.keys(""), []);
});

test("indexeddb: a request failing inside the transaction rejects with the abort, not with success", async () => {
  const kv = await openIndexedDbKvStore(dbName());
  await kv.put("dup", 1);
  // Make put behave like add: a second write of the key fails asynchronously (ConstraintError), aborting the tx.
  const original = IDBObjectStore.prototype.put;
  IDBObjectStore.prototype.put = function (value, key) {
    return this.add(value, key);
  };
  try {
    await assert.rejects(kv.put("dup", 2), (e) => e instanceof StorageError && e.code === "storage_failed" && /ConstraintError/.test(e.message));
  } finally {
    IDBObjectStore.prototype.put = original;
  }
  assert.equal(await kv.get("dup"), 1);
});

test("indexeddb: after close, and after a newer version took the database, calls are storage_closed", async () => {
  const kv = await openIndexedDbKvStore(dbName());
  kv.close();
  await assert.rejects(kv.get("x"), (e) => e instanceof StorageError && e.code === "storage_closed");

  const name = dbName();
  const old = await openIndexedDbKvStore(name);
  await old.put("x", 1);
  const newer = await rawOpen(name, 2); // not blocked: the SDK's connection steps aside
  newer.close();
  await assert.rejects(old.put("x", 2), (e) => e instanceof StorageError && e.code === "storage_closed");
});

test("indexeddb: opening fails with typed errors", async () => {
  await assert.rejects(openIndexedDbKvStore(""), (e) => e instanceof InputError);
  // a newer database of that name (version 2): the SDK's version 1 cannot open it
  const newer = dbName();
  (await rawOpen(newer, 2)).close();
  await assert.rejects(openIndexedDbKvStore(newer), (e) => e instanceof StorageError && e.code === "storage_unavailable");
  // a version-1 database of that name made by something else, without the SDK's object store
  const foreign = dbName();
  (await rawOpen(foreign, 1, (db) => db.createObjectStore("other"))).close();
  await assert.rejects(openIndexedDbKvStore(foreign), (e) => e instanceof StorageError && e.code === "corrupt_record");
  // no IndexedDB at all (a worker without it, a locked-down browser)
  const saved = Object.getOwnPropertyDescriptor(globalThis, "indexedDB");
  delete globalThis.indexedDB;
  try {
    await assert.rejects(openIndexedDbKvStore(), (e) => e instanceof StorageError && e.code === "storage_unavailable");
  } finally {
    Object.defineProperty(globalThis, "indexedDB", saved);
  }
});
