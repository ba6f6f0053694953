// Encrypted key files between this SDK and the Rust CLI, against a running API:
//   E2EE_SERVER=http://127.0.0.1:9100 E2EE_CLI=/path/to/e2ee npm run test:served
// A key generated here with generateKeyPairWithBackup is read by the CLI (fingerprint, offline `open`, and as
// the key of a CLI profile that reads and sends); a key made by `e2ee keys init` is imported here and reads
// what was sent to it. Skipped without E2EE_SERVER or the CLI (E2EE_CLI, else target/debug/e2ee), except with
// CI=true, where that is a failure.
import "fake-indexeddb/auto";
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ApiClient, Keyring, Session, BackupError, generateKeyPair, generateKeyPairWithBackup, importEncryptedPrivateKeyPem,
  openIndexedDbKvStore, spkiPem, fingerprint,
} from "../../dist/index.js";
import { PASSWORD, SERVER, cliRunner, requires, suffix } from "./support.mjs";

const skip = requires({ cli: true });
const PASSPHRASE = "backup pässphrase 🔑";
const dir = mkdtempSync(join(tmpdir(), "e2ee-web-cli-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const cli = cliRunner(dir, { PW: PASSWORD, PP: PASSPHRASE });

async function account(name, keyPair) {
  const api = new ApiClient({ baseUrl: SERVER });
  await api.register(name, PASSWORD);
  const { userId } = await api.login(name, PASSWORD);
  const s = new Session({ api, userId, sendRetryDelays: [] });
  if (keyPair) await s.registerKey(keyPair);
  return s;
}

test("a key exported by the SDK is read by the CLI: fingerprint, offline open, and as a CLI profile's key", { skip }, async () => {
  const names = { alice: `wa_${suffix}`, bob: `wb_${suffix}` };
  const { keyPair, encryptedPem } = await generateKeyPairWithBackup(PASSPHRASE);
  const bobKey = await generateKeyPair(2048);
  const [alice, bob] = await Promise.all([account(names.alice, keyPair), account(names.bob, bobKey)]);
  const text = `from the web SDK to a key the CLI holds ${suffix}`;
  await bob.sendText(names.alice, text);

  const keyFile = join(dir, "alice.pem");
  const bobPub = join(dir, "bob.pub");
  writeFileSync(keyFile, encryptedPem, { mode: 0o600 });
  writeFileSync(bobPub, await spkiPem(bobKey.publicKey.encryptKey));
  assert.match(cli("offline", ["fingerprint", keyFile, "--passphrase-env", "PP"], { json: false }), new RegExp(`key id:\\s+${keyPair.keyId}`));

  // Offline: the CLI opens the stored envelope with the exported key and checks Bob's signature.
  const [stored] = (await alice.api.receive(alice.userId)).messages;
  const opened = cli("offline", ["open", "--key", keyFile, "--passphrase-env", "PP", "--verify-with", bobPub], { stdin: JSON.stringify(stored.envelope), json: false });
  assert.equal(opened, text);

  // A CLI profile for Alice (login), holding the exported key as its current key, as `keys init` would leave it.
  cli("alice", ["login", names.alice, "--password-env", "PW"]);
  const profileDir = join(dir, "alice");
  mkdirSync(join(profileDir, "keys"), { mode: 0o700 });
  writeFileSync(join(profileDir, "keys", `${keyPair.keyId}.key`), encryptedPem, { mode: 0o600 });
  writeFileSync(join(profileDir, "keys", `${keyPair.keyId}.pub`), await spkiPem(keyPair.publicKey.encryptKey), { mode: 0o600 });
  const profile = JSON.parse(readFileSync(join(profileDir, "profile.json"), "utf8"));
  profile.currentKeyId = keyPair.keyId;
  profile.keys = [{ keyId: keyPair.keyId, fingerprint: fingerprint(keyPair.keyId), bits: 2048, createdAt: Date.now() }];
  writeFileSync(join(profileDir, "profile.json"), JSON.stringify(profile), { mode: 0o600 });
  const inbox = cli("alice", ["inbox", "--passphrase-env", "PP"]).messages;
  assert.deepEqual(inbox.map((m) => [m.text, m.status]), [[text, "verified"]]);

  // ... and signs with it: Bob reads the CLI's reply as verified.
  const reply = `the CLI answers with the web key ${suffix}`;
  cli("alice", ["send", names.bob, reply, "--passphrase-env", "PP"]);
  const got = await bob.inbox();
  assert.deepEqual(got.map((m) => [m.text, m.status]), [[reply, "verified"]]);
});

test("a key file of `e2ee keys init` imports into a persistent keyring and reads what was sent to it", { skip }, async () => {
  const names = { carol: `wc_${suffix}`, dave: `wd_${suffix}` };
  cli("carol", ["register", names.carol, "--password-env", "PW"]);
  const init = cli("carol", ["keys", "init", "--passphrase-env", "PP"]);
  const pem = readFileSync(join(dir, "carol", "keys", `${init.keyId}.key`), "utf8");
  assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
  await assert.rejects(importEncryptedPrivateKeyPem(pem, "not the passphrase"), (e) => e instanceof BackupError && e.code === "bad_passphrase");
  const imported = await importEncryptedPrivateKeyPem(pem, PASSPHRASE);
  assert.equal(imported.keyId, init.keyId);

  const dave = await account(names.dave, await generateKeyPair(2048));
  const text = `to the key made by the CLI ${suffix}`;
  await dave.sendText(names.carol, text);

  const store = await openIndexedDbKvStore(`served-${suffix}`);
  const api = new ApiClient({ baseUrl: SERVER });
  const { userId } = await api.login(names.carol, PASSWORD);
  await new Session({ api, userId, keyring: await Keyring.open(store, userId) }).useKey(imported);
  // A later page load: the key comes back from the store (non-extractable), not from the file.
  const carol = new Session({ api, userId, keyring: await Keyring.open(store, userId) });
  assert.equal(carol.key.keyId, init.keyId);
  assert.equal(carol.key.decryptKey.extractable, false);
  assert.deepEqual((await carol.inbox()).map((m) => [m.text, m.status]), [[text, "verified"]]);
  // The same message, read by the CLI itself.
  assert.deepEqual(cli("carol", ["inbox", "--passphrase-env", "PP"]).messages.map((m) => m.text), [text]);
});

test("rotation on the server: old history still opens from the keyring; the CLI reads the new key's export", { skip }, async () => {
  const names = { erin: `we_${suffix}`, frank: `wf_${suffix}` };
  const [erin, frank] = await Promise.all([account(names.erin, await generateKeyPair(2048)), account(names.frank, await generateKeyPair(2048))]);
  const oldKeyId = erin.key.keyId;
  await frank.sendText(names.erin, "before the rotation");
  const { keyPair, encryptedPem } = await erin.rotateKey({ exportPassphrase: PASSPHRASE }); // authorized by the old key
  await frank.acceptKeyChange(erin.userId);
  const sent = await frank.sendText(names.erin, "after the rotation");
  assert.equal(sent.receiverKeyId, keyPair.keyId);
  const history = await erin.history(names.frank, { order: "asc" });
  assert.deepEqual(history.messages.map((m) => [m.text, m.status]), [["before the rotation", "verified"], ["after the rotation", "verified"]]);
  assert.deepEqual(erin.keyring.entries().map((e) => [e.keyId, e.active]).sort(), [[oldKeyId, false], [keyPair.keyId, true]].sort());

  const keyFile = join(dir, "erin-new.pem");
  writeFileSync(keyFile, encryptedPem, { mode: 0o600 });
  const last = history.messages.at(-1);
  const [stored] = (await erin.api.history(last.chatId, { order: "desc", limit: 1 })).messages;
  assert.equal(cli("offline", ["open", "--key", keyFile, "--passphrase-env", "PP"], { stdin: JSON.stringify(stored.envelope), json: false }), "after the rotation");
});
