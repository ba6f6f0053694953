// Encrypted PKCS#8 (backup.ts): the committed fixtures of the Rust CLI and openssl, the interop fixtures, files
// built here with node:crypto (an independent PBES2 encoder) to probe every parsing rule, the bytes this SDK
// writes (identical layout to the CLI's, read back by `openssl pkcs8`), and the wiping of plaintext buffers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import nodeCrypto from "node:crypto";
import {
  importEncryptedPrivateKeyPem, importPrivateKeyPem, importPublicKeyPem, generateKeyPairWithBackup, BackupError, InputError,
  PBKDF2_ITERATIONS, MIN_PBKDF2_ITERATIONS, MAX_PBKDF2_ITERATIONS,
} from "../../dist/index.js";

const FIXTURES = new URL("../fixtures/encrypted-keys/", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL("manifest.json", FIXTURES), "utf8"));
const fixture = (name) => readFileSync(new URL(name, FIXTURES), "utf8");
const interop = JSON.parse(readFileSync(new URL("../../../../tests/interop/fixtures.json", import.meta.url), "utf8"));

const isBackupError = (code) => (e) => e instanceof BackupError && e.code === code;
const isInvalidKey = (e) => e instanceof InputError && e.code === "invalid_key";

/** The private key signs for the public key: it is that key pair, not merely something with its id. */
async function signsFor(kp, pub) {
  const data = new TextEncoder().encode("proof");
  const sig = await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 32 }, kp.signKey, data);
  return crypto.subtle.verify({ name: "RSA-PSS", saltLength: 32 }, pub.verifyKey, sig, data);
}

test("fixtures by the Rust CLI and openssl: imported with the right key id, or refused with their code", async () => {
  assert.ok(manifest.some((m) => m.file.startsWith("cli-")) && manifest.some((m) => m.expect === "unsupported_cipher"));
  for (const m of manifest) {
    const pem = fixture(m.file);
    if (m.expect === "ok") {
      const kp = await importEncryptedPrivateKeyPem(pem, m.passphrase);
      const pub = await importPublicKeyPem(fixture(m.publicKey));
      assert.equal(kp.keyId, m.keyId, m.file);
      assert.equal(pub.keyId, m.keyId, m.file);
      assert.equal(kp.decryptKey.extractable || kp.signKey.extractable, false);
      assert.ok(await signsFor(kp, pub), m.file);
    } else {
      const started = Date.now();
      await assert.rejects(importEncryptedPrivateKeyPem(pem, m.passphrase), isBackupError(m.expect), m.file);
      assert.ok(Date.now() - started < 1000, `${m.file}: refused before any key derivation`);
    }
  }
  await assert.rejects(importEncryptedPrivateKeyPem(fixture("cli-pbkdf2-sha256-aes256.pem"), "web sdk fixture"), isBackupError("bad_passphrase"));
});

test("tests/interop/fixtures.json encryptedKeys: PBKDF2 ones import (UTF-8 passphrases), scrypt ones are refused", async () => {
  assert.ok(interop.encryptedKeys.length >= 4);
  for (const k of interop.encryptedKeys) {
    const p = importEncryptedPrivateKeyPem(k.encryptedPrivateKeyPem, k.passphrase);
    if (k.name.includes("scrypt")) await assert.rejects(p, isBackupError("unsupported_kdf"), k.name);
    else assert.equal((await p).keyId, k.keyId, k.name);
  }
});

// --- An independent PBES2 encoder (node:crypto + a few lines of DER), to build files with chosen parameters -----

const len = (n) => (n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff]);
const tlv = (tag, ...parts) => {
  const c = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag, ...len(c.length)]), c]);
};
const seq = (...parts) => tlv(0x30, ...parts);
const oid = (hex) => tlv(0x06, Buffer.from(hex, "hex"));
const octets = (b) => tlv(0x04, b);
const int = (hex) => tlv(0x02, Buffer.from(hex, "hex"));
const intOf = (n) => {
  let h = n.toString(16);
  if (h.length % 2) h = "0" + h;
  return int(parseInt(h[0], 16) >= 8 ? "00" + h : h);
};
const NULL = Buffer.from([0x05, 0x00]);
const PRF = { sha1: "2a864886f70d0207", sha256: "2a864886f70d0209", sha384: "2a864886f70d020a", sha512: "2a864886f70d020b", md5: "2a864886f70d0205" };
const CIPHER = { "aes-128-cbc": ["608648016503040102", 16], "aes-192-cbc": ["608648016503040116", 24], "aes-256-cbc": ["60864801650304012a", 32] };
const toPem = (der) => `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${der.toString("base64").match(/.{1,64}/g).join("\n")}\n-----END ENCRYPTED PRIVATE KEY-----\n`;

const RSA = nodeCrypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const PKCS8 = RSA.privateKey.export({ type: "pkcs8", format: "der" });
const KEY_ID = nodeCrypto.createHash("sha256").update(RSA.publicKey.export({ type: "spki", format: "der" })).digest("hex");
const PASS = "build passphrase";

function build(o = {}) {
  const { plaintext = PKCS8, iter = 1000, prf = "sha256", explicitPrf = true, cipher = "aes-256-cbc" } = o;
  const salt = o.salt ?? nodeCrypto.randomBytes(16);
  const iv = nodeCrypto.randomBytes(16);
  const [cipherOid, keyBytes] = CIPHER[cipher];
  const key = nodeCrypto.pbkdf2Sync(o.pass ?? PASS, salt, iter, keyBytes, prf === "md5" ? "sha256" : prf);
  const c = nodeCrypto.createCipheriv(cipher, key, iv);
  let ct = Buffer.concat([c.update(plaintext), c.final()]);
  if (o.truncate) ct = ct.subarray(0, ct.length - o.truncate);
  const kdfParams = seq(
    o.saltDer ?? octets(salt),
    o.iterDer ?? intOf(iter),
    ...(o.keyLength !== undefined ? [intOf(o.keyLength)] : []),
    ...(explicitPrf ? [seq(oid(PRF[prf]), o.nullDer ?? NULL)] : []),
  );
  const der = seq(seq(oid("2a864886f70d01050d"), seq(seq(oid("2a864886f70d01050c"), kdfParams), seq(oid(cipherOid), octets(o.ivDer ?? iv)))), octets(ct));
  return toPem(o.trailing ? Buffer.concat([der, Buffer.from([0])]) : der);
}

test("accepted parameters: every PRF and AES size, an explicit default PRF, a matching keyLength, 1000 iterations", async () => {
  assert.equal(MIN_PBKDF2_ITERATIONS, 1000);
  assert.equal(MAX_PBKDF2_ITERATIONS, 10_000_000);
  const cases = [
    {}, { prf: "sha1" }, { prf: "sha1", explicitPrf: false, cipher: "aes-128-cbc" }, { prf: "sha384", keyLength: 32 },
    { prf: "sha512", cipher: "aes-192-cbc", keyLength: 24 }, { salt: nodeCrypto.randomBytes(8) }, { salt: nodeCrypto.randomBytes(64) },
  ];
  for (const c of cases) assert.equal((await importEncryptedPrivateKeyPem(build(c), PASS)).keyId, KEY_ID, JSON.stringify(c));
});

test("refused parameters and malformed DER, each with its typed error", async () => {
  const SALT = nodeCrypto.randomBytes(16);
  const cases = [
    [{ prf: "md5" }, isBackupError("unsupported_kdf")],
    [{ saltDer: seq(oid("2a864886f70d0209")) }, isBackupError("unsupported_kdf")], // otherSource
    [{ iterDer: int("01" + "00".repeat(8)) }, isBackupError("unsupported_kdf")], // 2^64 iterations
    [{ keyLength: 16 }, isInvalidKey], // AES-256 with a 16-byte key length
    [{ iterDer: int("0003e8") }, isInvalidKey], // 1000 with a redundant leading zero
    [{ iterDer: int("fc18") }, isInvalidKey], // negative
    [{ nullDer: Buffer.from([0x05, 0x81, 0x00]) }, isInvalidKey], // long-form length with a leading zero byte
    [{ salt: SALT, saltDer: Buffer.concat([Buffer.from([0x04, 0x81, 0x10]), SALT]) }, isInvalidKey], // long form for 16
    [{ nullDer: oid("00") }, isInvalidKey], // PRF parameters that are not NULL
    [{ ivDer: nodeCrypto.randomBytes(8) }, isInvalidKey],
    [{ salt: nodeCrypto.randomBytes(4) }, isInvalidKey],
    [{ truncate: 5 }, isInvalidKey], // not whole AES blocks
    [{ trailing: true }, isInvalidKey],
  ];
  for (const [c, check] of cases) await assert.rejects(importEncryptedPrivateKeyPem(build(c), PASS), check, JSON.stringify(c));
  await assert.rejects(importEncryptedPrivateKeyPem(build(), "not it"), isBackupError("bad_passphrase"));
  // Right passphrase, valid padding, but no PKCS#8 inside: what a wrong key with lucky padding looks like.
  await assert.rejects(importEncryptedPrivateKeyPem(build({ plaintext: Buffer.from("not a key at all") }), PASS), isBackupError("bad_passphrase"));
  // Right passphrase, a real PKCS#8, but outside the key rules: not a passphrase problem.
  const small = nodeCrypto.generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "der" });
  await assert.rejects(importEncryptedPrivateKeyPem(build({ plaintext: small }), PASS), isInvalidKey);
  await assert.rejects(importEncryptedPrivateKeyPem(build().replace(/ENCRYPTED /g, ""), PASS), isInvalidKey);
  for (const bad of ["", "\ud800x", 42]) await assert.rejects(importEncryptedPrivateKeyPem(build(), bad), (e) => e instanceof InputError && e.code === "invalid_input");
});

const derOf = (pem) => Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s/g, ""), "base64");

test("generateKeyPairWithBackup writes the CLI's layout (salt and IV aside) and reads back; wrong passphrase refused", async () => {
  assert.equal(PBKDF2_ITERATIONS, 600_000);
  const { keyPair, encryptedPem } = await generateKeyPairWithBackup("export pässphrase 🔑");
  assert.match(encryptedPem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END ENCRYPTED PRIVATE KEY-----\n$/);
  assert.equal(keyPair.decryptKey.extractable, false);
  // The encryptionAlgorithm TLV (offset 4, 98 bytes: PBES2, PBKDF2 {salt, 600000, hmacWithSHA256}, aes-256-cbc {iv})
  // equals the CLI's byte for byte once the 16-byte salt (36..52) and IV (86..102) are masked.
  const masked = (der) => {
    const b = Buffer.from(der.subarray(4, 102));
    b.fill(0, 32, 48);
    b.fill(0, 82, 98);
    return b.toString("hex");
  };
  const mine = derOf(encryptedPem);
  const cli = derOf(fixture("cli-pbkdf2-sha256-aes256.pem"));
  assert.equal(masked(mine), masked(cli));
  assert.notDeepEqual(mine.subarray(36, 52), derOf((await generateKeyPairWithBackup("x")).encryptedPem).subarray(36, 52), "fresh salt");
  assert.equal((await importEncryptedPrivateKeyPem(encryptedPem, "export pässphrase 🔑")).keyId, keyPair.keyId);
  await assert.rejects(importEncryptedPrivateKeyPem(encryptedPem, "export passphrase 🔑"), isBackupError("bad_passphrase"));
  await assert.rejects(generateKeyPairWithBackup(""), (e) => e instanceof InputError);
});

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;
const opensslSkip = hasOpenssl ? false : process.env.CI === "true" ? false : "openssl not installed";

test("openssl reads what this SDK exports (`openssl pkcs8 -in f -passin env:P`)", { skip: opensslSkip }, async () => {
  assert.ok(hasOpenssl, "CI=true needs openssl for this test");
  const pass = "openssl reads ünïcödé";
  const { keyPair, encryptedPem } = await generateKeyPairWithBackup(pass);
  const dir = mkdtempSync(join(tmpdir(), "e2ee-backup-"));
  try {
    const file = join(dir, "k.pem");
    writeFileSync(file, encryptedPem);
    const plain = execFileSync("openssl", ["pkcs8", "-in", file, "-passin", "env:P"], { env: { ...process.env, P: pass }, encoding: "utf8" });
    assert.equal((await importPrivateKeyPem(plain)).keyId, keyPair.keyId);
    const params = execFileSync("openssl", ["asn1parse", "-in", file], { encoding: "utf8" });
    assert.match(params, /:PBES2[\s\S]*:PBKDF2[\s\S]*INTEGER\s+:0927C0[\s\S]*:hmacWithSHA256[\s\S]*:aes-256-cbc/);
    const wrong = spawnSync("openssl", ["pkcs8", "-in", file, "-passin", "env:P"], { env: { ...process.env, P: "wrong" } });
    assert.notEqual(wrong.status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("plaintext buffers are wiped: the PKCS#8 and the passphrase bytes handed to WebCrypto are zero afterwards", async () => {
  const seen = [];
  const original = crypto.subtle.importKey;
  crypto.subtle.importKey = function (format, data, ...rest) {
    if (format === "pkcs8" || format === "raw") seen.push({ format, data });
    return original.call(this, format, data, ...rest);
  };
  try {
    const { encryptedPem } = await generateKeyPairWithBackup("wipe me");
    await importEncryptedPrivateKeyPem(encryptedPem, "wipe me");
  } finally {
    crypto.subtle.importKey = original;
  }
  assert.deepEqual([...new Set(seen.map((s) => s.format))].sort(), ["pkcs8", "raw"]);
  for (const { format, data } of seen) assert.ok(data.length > 0 && data.every((b) => b === 0), `${format} buffer not wiped`);
});
