// Keyring and KvPinStore over MemoryKvStore and IndexedDbKvStore (fake-indexeddb): persistence across reopen,
// old keys kept, per-account isolation, refusal of extractable keys and of records the SDK did not write.
import "fake-indexeddb/auto";
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Keyring, KvPinStore, MemoryKvStore, openIndexedDbKvStore, StorageError, InputError, generateKeyPair, seal, open,
} from "../../dist/index.js";

const U_A = "u_" + "a".repeat(32);
const U_B = "u_" + "b".repeat(32);
const stores = {
  memory: async () => new MemoryKvStore(),
  indexeddb: async () => openIndexedDbKvStore(`test-${crypto.randomUUID()}`),
};
const [K1, K2, K3] = await Promise.all([generateKeyPair(2048), generateKeyPair(2048), generateKeyPair(2048)]);

async function opensFor(kp, text) {
  const { json } = await seal({
    senderId: U_B, messageId: "m_x", createdAt: 1, recipients: [{ userId: U_A, publicKey: kp.publicKey }], plaintext: new TextEncoder().encode(text),
  });
  return json;
}

for (const [kind, make] of Object.entries(stores)) {
  test(`${kind}: keyring keeps every key and the active one across reopen`, async () => {
    const kv = await make();
    const ring = await Keyring.open(kv, U_A);
    assert.equal(ring.active, null);
    assert.deepEqual(ring.entries(), []);
    await ring.add(K1, { activate: true });
    await ring.add(K2);
    assert.equal(ring.active.keyId, K1.keyId);
    await ring.activate(K2.keyId);
    await ring.add(K1, { activate: false }); // already held: kept as it was, not re-added
    const again = await Keyring.open(kv, U_A);
    assert.equal(again.ownerId, U_A);
    assert.equal(again.active.keyId, K2.keyId);
    assert.deepEqual(again.entries().map((e) => [e.keyId, e.active, e.modulusBits]).sort(), [[K1.keyId, false, 2048], [K2.keyId, true, 2048]].sort());
    assert.ok(again.entries().every((e) => Number.isFinite(e.addedAt)));
    // the old key, loaded from the store, still opens what was sealed for it
    const old = again.get(K1.keyId);
    assert.equal(old.decryptKey.extractable, false);
    const r = await open(await opensFor(K1, "for the old key"), { readerPrivateKey: old.decryptKey, readerKeyId: old.keyId });
    assert.equal(new TextDecoder().decode(r.plaintext), "for the old key");
    assert.equal(again.get(K3.keyId), undefined);
  });

  test(`${kind}: remove deletes an inactive key for good; the active key and unknown ids are refused`, async () => {
    const kv = await make();
    const ring = await Keyring.open(kv, U_A);
    await ring.add(K1, { activate: true });
    await ring.add(K2);
    await assert.rejects(ring.remove(K1.keyId), (e) => e instanceof InputError && e.code === "invalid_input");
    await ring.remove(K2.keyId);
    assert.equal(ring.get(K2.keyId), undefined);
    assert.equal((await Keyring.open(kv, U_A)).get(K2.keyId), undefined);
    await assert.rejects(ring.activate(K3.keyId), (e) => e instanceof InputError);
  });

  test(`${kind}: keyrings of different accounts in one store do not see each other (ids are encoded)`, async () => {
    const kv = await make();
    // Unencoded, "u" would list "keyring/u/key/..." and so the records of "u/key".
    const [plain, slashed] = await Promise.all([Keyring.open(kv, "u"), Keyring.open(kv, "u/key")]);
    await slashed.add(K1, { activate: true });
    await plain.add(K2, { activate: true });
    assert.deepEqual((await Keyring.open(kv, "u")).entries().map((e) => e.keyId), [K2.keyId]);
    assert.deepEqual((await Keyring.open(kv, "u/key")).entries().map((e) => e.keyId), [K1.keyId]);
  });

  test(`${kind}: pins persist per account, usernames folded; bad pins refused`, async () => {
    const kv = await make();
    const pins = new KvPinStore(kv, U_A);
    assert.equal(await pins.get(U_B), undefined);
    const pin = { userId: U_B, username: "Bob", keyId: K1.keyId, knownKeyIds: [K2.keyId], firstSeen: 5 };
    await pins.put(pin);
    pin.knownKeyIds.push(K3.keyId); // the store keeps its own copy
    await pins.putUsername("ÅSA", U_B);
    const later = new KvPinStore(kv, U_A);
    assert.deepEqual(await later.get(U_B), { userId: U_B, username: "Bob", keyId: K1.keyId, knownKeyIds: [K2.keyId], firstSeen: 5 });
    assert.equal(await later.getByUsername("A\u030asa"), U_B); // NFD and lower case fold to the same name
    assert.equal(await later.getByUsername("bob"), undefined);
    const other = new KvPinStore(kv, U_B);
    assert.equal(await other.get(U_B), undefined);
    assert.equal(await other.getByUsername("åsa"), undefined);
    await assert.rejects(pins.put({ ...pin, keyId: "not hex" }), (e) => e instanceof InputError);
    await assert.rejects(pins.putUsername("x", ""), (e) => e instanceof InputError);
    await assert.rejects(pins.get("bad\u0000id"), (e) => e instanceof InputError);
    assert.throws(() => new KvPinStore(kv, ""), (e) => e instanceof InputError);
  });

  test(`${kind}: records the SDK did not write are corrupt_record, never trusted`, async () => {
    const kv = await make();
    const ring = await Keyring.open(kv, U_A);
    await ring.add(K1, { activate: true });
    const prefix = `keyring/${encodeURIComponent(U_A)}/`;
    await kv.put(prefix + "active", K2.keyId); // names a key that is not stored
    await assert.rejects(Keyring.open(kv, U_A), (e) => e instanceof StorageError && e.code === "corrupt_record");
    await kv.put(prefix + "active", K1.keyId);
    const record = await kv.get(prefix + "key/" + K1.keyId);
    await kv.put(prefix + "key/" + K2.keyId, record); // K1's record under K2's id
    await assert.rejects(Keyring.open(kv, U_A), (e) => e instanceof StorageError && e.code === "corrupt_record");
    await kv.put(prefix + "key/" + K2.keyId, { ...record, keyPair: { ...record.keyPair, keyId: K2.keyId } }); // a lying key id
    await assert.rejects(Keyring.open(kv, U_A), (e) => e instanceof StorageError && /not the public key's/.test(e.message));
    await kv.put(prefix + "key/" + K2.keyId, { v: 2 });
    await assert.rejects(Keyring.open(kv, U_A), (e) => e instanceof StorageError && e.code === "corrupt_record");
    await kv.delete(prefix + "key/" + K2.keyId);
    assert.equal((await Keyring.open(kv, U_A)).active.keyId, K1.keyId);

    await kv.put(`pins/${encodeURIComponent(U_A)}/user/${encodeURIComponent(U_B)}`, { userId: U_A, username: "", keyId: K1.keyId, knownKeyIds: [], firstSeen: 1 });
    await assert.rejects(new KvPinStore(kv, U_A).get(U_B), (e) => e instanceof StorageError && e.code === "corrupt_record");
    await kv.put(`pins/${encodeURIComponent(U_A)}/name/bob`, 42);
    await assert.rejects(new KvPinStore(kv, U_A).getByUsername("Bob"), (e) => e instanceof StorageError && e.code === "corrupt_record");
  });
}

test("keyring: extractable private keys are refused (the keyring only holds non-extractable ones)", async () => {
  const ring = Keyring.inMemory(U_A);
  const gen = await crypto.subtle.generateKey({ name: "RSA-OAEP", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["encrypt", "decrypt"]);
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", gen.privateKey);
  const leaky = {
    ...K1,
    decryptKey: await crypto.subtle.importKey("pkcs8", pkcs8, { name: "RSA-OAEP", hash: "SHA-256" }, true, ["decrypt"]),
  };
  await assert.rejects(ring.add(leaky), (e) => e instanceof InputError && e.code === "invalid_key" && /non-extractable/.test(e.message));
  await assert.rejects(ring.add({ ...K1, keyId: K2.keyId }), (e) => e instanceof InputError && e.code === "invalid_key");
  await assert.rejects(ring.add({ keyId: K1.keyId }), (e) => e instanceof InputError);
  assert.deepEqual(ring.entries(), []);
});

test("keyring: a failed write changes nothing in memory and surfaces the store's error", async () => {
  const kv = new MemoryKvStore();
  const ring = await Keyring.open(kv, U_A);
  await ring.add(K1, { activate: true });
  const full = new StorageError("quota_exceeded", "put");
  kv.put = async () => {
    throw full;
  };
  await assert.rejects(ring.add(K2, { activate: true }), (e) => e === full);
  assert.equal(ring.get(K2.keyId), undefined);
  assert.equal(ring.active.keyId, K1.keyId);
});
