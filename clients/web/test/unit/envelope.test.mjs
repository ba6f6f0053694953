// Tests of the SDK against the committed interop fixtures (tests/interop/fixtures.json) and against the independent
// Node implementation (tests/interop/envelope.mjs). The SDK under test is the built dist/, i.e. what ships.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  EnvelopeError,
  InputError,
  aad,
  chatId,
  fingerprint,
  importPrivateKeyPem,
  importPublicKeyPem,
  keyId,
  open,
  parseEnvelope,
  seal,
  toHex,
} from "../../dist/index.js";
import * as reference from "../../../../tests/interop/envelope.mjs";

const fixtures = JSON.parse(readFileSync(new URL("../../../../tests/interop/fixtures.json", import.meta.url), "utf8"));
const keyNames = Object.keys(fixtures.keys);

/** name -> { pair: KeyPair, pub: PublicKeyInfo } */
const keys = {};

before(async () => {
  for (const name of keyNames) {
    const k = fixtures.keys[name];
    keys[name] = { pair: await importPrivateKeyPem(k.privateKeyPem), pub: await importPublicKeyPem(k.publicKeyPem) };
  }
});

const b64 = (u8) => Buffer.from(u8).toString("base64");

function readerOpts(reader, verifyWith) {
  const o = { readerPrivateKey: keys[reader].pair.decryptKey, readerKeyId: keys[reader].pair.keyId };
  if (verifyWith != null) o.senderPublicKey = keys[verifyWith].pub;
  return o;
}

async function codeOf(promise) {
  try {
    await promise;
    return "ok";
  } catch (e) {
    if (e instanceof EnvelopeError || e instanceof InputError) return e.code;
    throw e;
  }
}

test("fixture versions are the ones this SDK writes and reads", () => {
  assert.deepEqual(fixtures.versions, { write: 2, read: [1, 2] });
});

test("fixture keys: key id and fingerprint", async () => {
  for (const name of keyNames) {
    const k = fixtures.keys[name];
    const { pair, pub } = keys[name];
    assert.equal(pub.keyId, k.keyId, `${name} public keyId`);
    assert.equal(pair.keyId, k.keyId, `${name} private keyId`);
    assert.equal(await keyId(pub.encryptKey), k.keyId, `${name} keyId(CryptoKey)`);
    assert.equal(fingerprint(k.keyId), k.fingerprint, `${name} fingerprint`);
    assert.equal(pub.modulusBits, k.bits);
    assert.equal(pair.modulusBits, k.bits);
    assert.equal(pair.decryptKey.extractable, false);
    assert.equal(pair.signKey.extractable, false);
  }
});

test("fixture chat ids, both argument orders", async () => {
  assert.ok(fixtures.chatIds.length > 0);
  for (const c of fixtures.chatIds) {
    assert.equal(await chatId(c.a, c.b), c.chatId, `${JSON.stringify(c.a)} / ${JSON.stringify(c.b)}`);
    assert.equal(await chatId(c.b, c.a), c.chatId);
  }
});

test("spec worked AAD examples (v1 prefix, v2 unsigned 147 bytes, v2 signed 211 bytes)", () => {
  const h = { version: 2, keyAlg: "RSA-OAEP-256", contentAlg: "A256GCM", senderId: "a", messageId: "m1", createdAt: 1, recipients: [{ userId: "b", keyId: "b".repeat(64) }] };
  const unsigned =
    "00000010653265652e656e76656c6f70652e76320000000c5253412d4f4145502d32353600000007413235364743" +
    "4d0000000161000000026d31000000000000000100000001000000016200000040" + "62".repeat(64) + "00000000";
  assert.equal(toHex(aad(h)), unsigned);
  assert.equal(aad(h).length, 147);
  const signed = aad({ ...h, signature: { keyId: "a".repeat(64) } });
  assert.equal(signed.length, 211);
  assert.equal(toHex(signed), unsigned.slice(0, -8) + "00000040" + "61".repeat(64));
  const v1 = toHex(aad({ ...h, version: 1 }));
  assert.ok(v1.startsWith("00000010" + Buffer.from("e2ee.envelope.v1").toString("hex") + "0000000c" + Buffer.from("RSA-OAEP-256").toString("hex")));
});

for (const fx of fixtures.envelopes) {
  test(`valid envelope ${fx.name}`, async () => {
    const json = JSON.stringify(fx.envelope);
    const parsed = parseEnvelope(json);
    assert.equal(toHex(aad(parsed)), fx.aadHex, "AAD");
    assert.equal(parsed.version, fx.envelope.version);
    assert.equal(Boolean(fx.envelope.signature), fx.signedBy !== null);
    assert.ok(fx.readers.length > 0);
    for (const reader of fx.readers) {
      const verifiers = fx.signedBy === null ? [null] : [null, fx.signedBy];
      for (const verifyWith of verifiers) {
        const r = await open(json, readerOpts(reader, verifyWith));
        assert.equal(b64(r.plaintext), fx.plaintextBase64, `${reader} / ${verifyWith}`);
        assert.equal(r.signatureVerified, verifyWith !== null);
        assert.equal(r.senderId, fx.envelope.senderId);
        assert.equal(r.messageId, fx.envelope.messageId);
        assert.equal(r.createdAt, fx.envelope.createdAt);
        assert.equal(r.version, fx.envelope.version);
        assert.deepEqual(r.recipients, fx.envelope.recipients.map(({ userId, keyId }) => ({ userId, keyId })));
        assert.equal(r.signerKeyId, fx.envelope.signature?.keyId);
      }
      // The same bytes as UTF-8 open too.
      const r = await open(new TextEncoder().encode(json), readerOpts(reader, null));
      assert.equal(b64(r.plaintext), fx.plaintextBase64);
    }
    // Signed ones with the signature stripped: v2 binds the signer, v1 does not (docs/envelope.md).
    if (fx.envelope.signature) {
      const { signature, ...stripped } = fx.envelope;
      const expect = fx.envelope.version === 2 ? "cannot_decrypt" : "ok";
      assert.equal(await codeOf(open(JSON.stringify(stripped), readerOpts(fx.readers[0], null))), expect);
      assert.equal(await codeOf(open(JSON.stringify(stripped), readerOpts(fx.readers[0], fx.signedBy))), "bad_signature");
    }
  });
}

for (const c of fixtures.invalid) {
  test(`invalid ${c.name} -> ${c.expect}`, async () => {
    assert.ok(c.expect in { invalid_envelope: 1, not_recipient: 1, bad_signature: 1, cannot_decrypt: 1 });
    assert.ok(c.verifyWith === null || keyNames.includes(c.verifyWith), `verifyWith ${c.verifyWith}`);
    assert.equal(await codeOf(open(c.envelopeJson, readerOpts(c.reader, c.verifyWith))), c.expect);
  });
}

const kib = new Uint8Array(1024).map((_, i) => (i * 31 + 7) & 0xff);

for (const [senderName, receiverName] of [["alice", "bob"], ["dave", "alice"], ["alice", "dave"]]) {
  for (const signed of [false, true]) {
    for (const plaintext of [new Uint8Array(0), kib]) {
      const label = `${senderName}(${fixtures.keys[senderName].bits}) -> ${receiverName}(${fixtures.keys[receiverName].bits}), ${signed ? "signed" : "unsigned"}, ${plaintext.length} bytes`;
      test(`round trip v2 ${label}`, async () => {
        const sender = keys[senderName];
        const receiver = keys[receiverName];
        const { envelope, json } = await seal({
          senderId: `u_${senderName}`,
          messageId: crypto.randomUUID(),
          createdAt: Date.now(),
          recipients: [
            { userId: `u_${receiverName}`, publicKey: receiver.pub },
            { userId: `u_${senderName}`, publicKey: sender.pub },
          ],
          plaintext,
          signer: signed ? sender.pair : undefined,
        });
        assert.equal(envelope.version, 2);
        assert.equal(JSON.parse(json).version, 2);
        assert.equal(Boolean(envelope.signature), signed);
        for (const reader of [receiverName, senderName]) {
          const r = await open(json, readerOpts(reader, signed ? senderName : null));
          assert.deepEqual(r.plaintext, plaintext);
          assert.equal(r.signatureVerified, signed);
          assert.equal(r.signerKeyId, signed ? sender.pair.keyId : undefined);
        }
        if (!signed) {
          // Verifying against an unsigned envelope is a bad signature, not a silent downgrade.
          assert.equal(await codeOf(open(json, readerOpts(receiverName, senderName))), "bad_signature");
        }
        assert.equal(await codeOf(open(json, readerOpts("carol", null))), "not_recipient");
        // The independent Node implementation reads what we wrote.
        const ref = reference.open(json, {
          privateKeyPem: fixtures.keys[receiverName].privateKeyPem,
          verifyWithPem: signed ? fixtures.keys[senderName].publicKeyPem : undefined,
        });
        assert.deepEqual(new Uint8Array(ref.plaintext), plaintext);
        assert.equal(ref.signatureVerified, signed);
      });
    }
  }
}

test("v1 on request: sealed by us, opened by us and by the reference", async () => {
  const { json } = await seal({
    senderId: "u_alice",
    messageId: "m1",
    createdAt: 0,
    recipients: [{ userId: "u_carol", publicKey: keys.carol.pub }],
    plaintext: kib,
    signer: keys.alice.pair,
    version: 1,
  });
  assert.equal(JSON.parse(json).version, 1);
  assert.deepEqual((await open(json, readerOpts("carol", "alice"))).plaintext, kib);
  const ref = reference.open(json, { privateKeyPem: fixtures.keys.carol.privateKeyPem, verifyWithPem: fixtures.keys.alice.publicKeyPem });
  assert.deepEqual(new Uint8Array(ref.plaintext), kib);
});

test("sealed by the reference implementation, opened by the SDK", async () => {
  for (const signWith of [undefined, fixtures.keys.carol.privateKeyPem]) {
    const env = reference.seal({
      plaintext: Buffer.from(kib),
      senderId: "u_carol",
      messageId: "m_ref",
      createdAt: 1764145653000,
      recipients: [
        { userId: "u_dave", publicKeyPem: fixtures.keys.dave.publicKeyPem },
        { userId: "u_carol", publicKeyPem: fixtures.keys.carol.publicKeyPem },
      ],
      signWith,
    });
    const json = JSON.stringify(env);
    for (const reader of ["dave", "carol"]) {
      const r = await open(json, readerOpts(reader, signWith ? "carol" : null));
      assert.deepEqual(r.plaintext, kib);
      assert.equal(r.signatureVerified, Boolean(signWith));
    }
  }
});

test("tamper: one flipped ciphertext bit is cannot_decrypt", async () => {
  const { envelope } = await seal({
    senderId: "u_alice",
    messageId: "m_tamper",
    createdAt: 1,
    recipients: [{ userId: "u_bob", publicKey: keys.bob.pub }],
    plaintext: kib,
  });
  for (const bit of [0, 8 * 100 + 3, 8 * (1024 + 15) + 7]) {
    const ct = Buffer.from(envelope.ciphertext, "base64");
    ct[bit >> 3] ^= 1 << (bit & 7);
    const tampered = JSON.stringify({ ...envelope, ciphertext: ct.toString("base64") });
    assert.equal(await codeOf(open(tampered, readerOpts("bob", null))), "cannot_decrypt", `bit ${bit}`);
  }
});

test("seal rejects bad input; open rejects oversize input", async () => {
  const base = { senderId: "a", messageId: "m", createdAt: 0, recipients: [{ userId: "b", publicKey: keys.bob.pub }], plaintext: new Uint8Array(1) };
  assert.equal(await codeOf(seal({ ...base, plaintext: new Uint8Array(1048577) })), "invalid_input");
  assert.equal(await codeOf(seal({ ...base, senderId: "" })), "invalid_input");
  assert.equal(await codeOf(seal({ ...base, messageId: "a\u007f" })), "invalid_input");
  assert.equal(await codeOf(seal({ ...base, createdAt: 1.5 })), "invalid_input");
  assert.equal(await codeOf(seal({ ...base, recipients: [] })), "invalid_input");
  assert.equal(await codeOf(seal({ ...base, recipients: [base.recipients[0], { userId: "c", publicKey: keys.bob.pub }] })), "invalid_input");
  assert.equal(await codeOf(seal({ ...base, version: 3 })), "invalid_input");
  const { json } = await seal(base);
  assert.equal(await codeOf(open(json.replace(/^\{/, "{" + " ".repeat(1572864)), readerOpts("bob", null))), "invalid_envelope");
  const exact = json.replace(/^\{/, "{" + " ".repeat(1572864 - json.length));
  assert.equal(await codeOf(open(exact, readerOpts("bob", null))), "ok");
  assert.equal(await codeOf(open("\ufeff" + json, readerOpts("bob", null))), "invalid_envelope");
  assert.equal(await codeOf(open("[".repeat(100000), readerOpts("bob", null))), "invalid_envelope");
  // 1 MiB plaintext, the maximum, round-trips
  const big = crypto.getRandomValues(new Uint8Array(65536));
  const max = new Uint8Array(1048576);
  for (let i = 0; i < 16; i++) max.set(big, i * 65536);
  const sealed = await seal({ ...base, plaintext: max, signer: keys.dave.pair });
  assert.deepEqual((await open(sealed.json, readerOpts("bob", "dave"))).plaintext, max);
});

test("key import rules", async () => {
  const pub = fixtures.keys.alice.publicKeyPem;
  assert.equal(await codeOf(importPublicKeyPem(fixtures.keys.alice.privateKeyPem)), "invalid_key");
  assert.equal(await codeOf(importPrivateKeyPem(pub)), "invalid_key");
  assert.equal(await codeOf(importPublicKeyPem(pub.replace("-----BEGIN PUBLIC KEY-----", "-----BEGIN RSA PUBLIC KEY-----"))), "invalid_key");
  // 1024-bit and e=3 keys, made with the platform's WebCrypto
  for (const [modulusLength, publicExponent] of [[1024, [1, 0, 1]], [2048, [3]]]) {
    const kp = await crypto.subtle.generateKey(
      { name: "RSA-OAEP", modulusLength, publicExponent: new Uint8Array(publicExponent), hash: "SHA-256" },
      true,
      ["encrypt", "decrypt"],
    );
    const spki = Buffer.from(await crypto.subtle.exportKey("spki", kp.publicKey)).toString("base64");
    const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", kp.privateKey)).toString("base64");
    const pem = (label, b) => `-----BEGIN ${label}-----\n${b.match(/.{1,64}/g).join("\n")}\n-----END ${label}-----\n`;
    assert.equal(await codeOf(importPublicKeyPem(pem("PUBLIC KEY", spki))), "invalid_key", `${modulusLength}/${publicExponent}`);
    assert.equal(await codeOf(importPrivateKeyPem(pem("PRIVATE KEY", pkcs8))), "invalid_key", `${modulusLength}/${publicExponent}`);
  }
});
