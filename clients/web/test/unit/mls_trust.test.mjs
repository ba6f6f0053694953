// Unit tests of the trust rule (docs/mls.md, "Trust"), no server: which listed devices an operation's trust
// (src/mls/trust.ts: the client core's decision over the keys this device's records vouch for) certifies — under the
// session's own identity key for its own user, under the pinned (TOFU) key for others — and which it refuses: a
// certificate by a key the server invented, by a revoked key, for other bytes, or none at all.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import {
  ApiClient, Session, MemoryPinStore, MlsApi, generateKeyPair, spkiPem, deviceCertInput, toBase64, fromBase64Strict, loadCore,
} from "../../dist/index.js";
import { TrustSession } from "../../dist/mls/trust.js";
import { CoreDevice, linkProof } from "../../dist/mls/core.js";

const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const K = {};
before(async () => {
  await loadCore();
  [K.alice, K.bob, K.mallory, K.bob2] = await Promise.all([generateKeyPair(2048), generateKeyPair(2048), generateKeyPair(2048), generateKeyPair(2048)]);
});

async function keyInfo(kp, status = "active") {
  return { keyId: kp.keyId, fingerprint: "", bits: 2048, publicKey: await spkiPem(kp.publicKey.encryptKey), status, createdAt: 1 };
}

/** A device listing entry certified by `issuer` (or with `cert: null`), its statement optionally altered. */
async function device(userId, deviceId, issuer, { status = "active", alter = {}, signatureKey = crypto.getRandomValues(new Uint8Array(32)) } = {}) {
  const view = { userId, deviceId, displayName: deviceId, signatureKey: toBase64(signatureKey), status, certificate: null, createdAt: 1, approvedAt: 1, revokedAt: null };
  if (issuer) {
    const statement = { userId, deviceId, signatureKey, issuerKeyId: issuer.keyId, createdAt: 1_764_000_000_000, ...alter };
    const sig = new Uint8Array(await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 32 }, issuer.signKey, deviceCertInput(statement)));
    view.certificate = { issuerKeyId: issuer.keyId, issuedAt: 1_764_000_000_000, signature: toBase64(sig) };
  }
  return view;
}

/** A fake server: the key directory and device listings of `users`. */
async function directoryOf(users, { identityKey = K.alice, linked = null } = {}) {
  const f = async (url) => {
    const { pathname } = new URL(url);
    let m = /^\/api\/crypto\/public-key\/([^/]+)$/.exec(pathname);
    if (m) {
      const u = users[decodeURIComponent(m[1])];
      if (!u) return json(404, { error: { code: "user_not_found", message: "no" } });
      const active = u.keys.find((k) => k.status === "active");
      return json(200, { userId: m[1], keyId: active.keyId, fingerprint: "", bits: 2048, publicKey: active.publicKey, createdAt: 1, keys: u.keys });
    }
    m = /^\/api\/devices\/([^/]+)$/.exec(pathname);
    if (m) return json(200, { userId: m[1], devices: users[decodeURIComponent(m[1])]?.devices ?? [] });
    throw new Error(`unexpected ${pathname}`);
  };
  const api = new ApiClient({ baseUrl: "http://ds", fetch: f, token: "t" });
  const session = new Session({ api, userId: "u_alice", pins: new MemoryPinStore() });
  if (identityKey) await session.useKey(identityKey);
  // Each call is one operation's trust (a fresh TrustSession: what the server lists now, the pins as they are now).
  const certified = async (userId) => {
    const trust = new TrustSession(session, new MlsApi(api), new Map(), linked ? (d, l) => linked.linkedOwnKey(d, l) : undefined);
    try {
      const { listed, trusted } = await trust.devices(userId);
      return listed.filter((d) => trusted.has(d.deviceId)).map((d) => ({ deviceId: d.deviceId, signatureKey: fromBase64Strict(d.signatureKey) }));
    } finally {
      trust.free();
    }
  };
  return { session, dir: { certified } };
}

const ids = (list) => list.map((d) => d.deviceId).sort();

test("another user's devices: certified by the key pinned on first use; server-invented, tampered, pending and uncertified ones refused", async () => {
  const users = {
    u_bob: {
      keys: [await keyInfo(K.bob)],
      devices: [
        await device("u_bob", "laptop", K.bob),
        await device("u_bob", "ghost", K.mallory), // a key the server made up, not even listed
        await device("u_bob", "tampered", K.bob, { alter: { deviceId: "other" } }), // signature over other bytes
        await device("u_bob", "pending", K.bob, { status: "pending" }),
        await device("u_bob", "bare", null),
        await device("u_eve", "foreign", K.bob), // listed under bob, but another user's statement
      ],
    },
  };
  const { session, dir } = await directoryOf(users);
  const certified = await dir.certified("u_bob");
  assert.deepEqual(ids(certified), ["laptop"]);
  assert.equal(certified[0].signatureKey.length, 32);
  assert.equal(toBase64(certified[0].signatureKey), users.u_bob.devices[0].signatureKey);
  const pin = await session.pins.get("u_bob");
  assert.equal(pin.keyId, K.bob.keyId, "pinned on first use");

  // The server now names another active key and devices under it: the pin holds, they are not trusted.
  users.u_bob.keys = [await keyInfo(K.bob, "retired"), await keyInfo(K.bob2)];
  users.u_bob.devices.push(await device("u_bob", "phone", K.bob2));
  assert.deepEqual(ids(await dir.certified("u_bob")), ["laptop"]);
  // Once the user accepts the new key (Session.acceptKeyChange), both verify.
  await session.acceptKeyChange("u_bob");
  assert.deepEqual(ids(await dir.certified("u_bob")), ["laptop", "phone"]);
});

test("a revoked identity key certifies nothing, even when pinned", async () => {
  const users = { u_bob: { keys: [await keyInfo(K.bob, "revoked"), await keyInfo(K.bob2)], devices: [await device("u_bob", "laptop", K.bob)] } };
  const { session, dir } = await directoryOf(users);
  await session.pins.put({ userId: "u_bob", username: "bob", keyId: K.bob.keyId, knownKeyIds: [], firstSeen: 1 });
  assert.deepEqual(await dir.certified("u_bob"), []);
});

test("own devices: certified by the session's identity key only, never by a pin or another listed key", async () => {
  const users = {
    u_alice: {
      keys: [await keyInfo(K.alice), await keyInfo(K.mallory, "retired")],
      devices: [await device("u_alice", "laptop", K.alice), await device("u_alice", "planted", K.mallory)],
    },
  };
  const { session, dir } = await directoryOf(users);
  await session.pins.put({ userId: "u_alice", username: "alice", keyId: K.mallory.keyId, knownKeyIds: [], firstSeen: 1 });
  assert.deepEqual(ids(await dir.certified("u_alice")), ["laptop"]);
});

test("a user without keys has no certified device, and nothing is pinned", async () => {
  const { session, dir } = await directoryOf({});
  assert.deepEqual(await dir.certified("u_nobody"), []);
  assert.equal(await session.pins.get("u_nobody"), undefined);
});

test("own devices after a rotation: certified by any key of the keyring (the old one too), not by a pin", async () => {
  // K.bob2 plays alice's new key here: both are in her keyring, the new one active.
  const users = {
    u_alice: {
      keys: [await keyInfo(K.alice, "retired"), await keyInfo(K.bob2), await keyInfo(K.mallory, "retired")],
      devices: [
        await device("u_alice", "laptop", K.alice),
        await device("u_alice", "phone", K.bob2),
        await device("u_alice", "planted", K.mallory),
      ],
    },
  };
  const { session, dir } = await directoryOf(users);
  await session.useKey(K.bob2);
  assert.equal(session.key.keyId, K.bob2.keyId);
  await session.pins.put({ userId: "u_alice", username: "alice", keyId: K.mallory.keyId, knownKeyIds: [], firstSeen: 1 });
  assert.deepEqual(ids(await dir.certified("u_alice")), ["laptop", "phone"]);
});

test("a linked device without the identity key trusts its own user's devices only under the key its approver's link proof names", async () => {
  // The linked device itself: a core device with a link code, listed as approved by Alice's key with the proof.
  const linked = CoreDevice.create("u_alice", "tablet");
  const code = linked.startLink();
  const tablet = await device("u_alice", "tablet", K.alice, { signatureKey: Buffer.from(linked.signatureKey, "base64") });
  const proven = { ...tablet, linkProof: linkProof(code, "u_alice", "tablet", tablet.signatureKey, JSON.stringify(tablet.certificate)) };
  const others = [await device("u_alice", "laptop", K.alice), await device("u_alice", "planted", K.mallory)];
  const users = { u_alice: { keys: [await keyInfo(K.alice)], devices: [proven, ...others] } };
  const { session, dir } = await directoryOf(users, { identityKey: null, linked });
  assert.equal(session.key, null);
  assert.deepEqual(ids(await dir.certified("u_alice")), ["laptop", "tablet"]);
  assert.equal((await session.pins.get("u_alice")).keyId, K.alice.keyId, "pinned from the link proof");

  // A server that lists a key of its own as the user's active key, with the tablet certified by it: the proof was
  // made over Alice's certificate, so it names no key; nothing is trusted or pinned (no first use for one's own user).
  const forged = await device("u_alice", "tablet", K.mallory, { signatureKey: Buffer.from(linked.signatureKey, "base64") });
  const lying = { u_alice: { keys: [await keyInfo(K.mallory)], devices: [{ ...forged, linkProof: proven.linkProof }, await device("u_alice", "ghost", K.mallory)] } };
  const fooled = await directoryOf(lying, { identityKey: null, linked });
  assert.deepEqual(await fooled.dir.certified("u_alice"), []);
  assert.equal(await fooled.session.pins.get("u_alice"), undefined);
  // And an approval without a proof (the approver was not given the code) proves nothing either.
  const unproven = await directoryOf({ u_alice: { keys: [await keyInfo(K.alice)], devices: [tablet, ...others] } }, { identityKey: null, linked });
  assert.deepEqual(await unproven.dir.certified("u_alice"), []);
  assert.equal(await unproven.session.pins.get("u_alice"), undefined);
  linked.free();
});
