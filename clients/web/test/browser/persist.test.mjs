// What the page keeps in the browser (IndexedDB through the SDK) and how keys move: a reload keeps the key (stored
// non-extractable), the pins and the MLS group, only the login is asked again; a key generated with a backup file is
// downloaded, read by the CLI, and imported into a fresh browser with its passphrase; a key file of `e2ee keys init`
// is used by the page, and a file of another account's key is refused; a sealed MLS state the password does not
// unlock leaves group chats closed with an alert saying why, and the 1:1 chat working.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ed25519 } from "../../../../tests/interop/mls/tsmls.mjs";
import { ApiClient, connect, fingerprint, fromBase64Strict, generateKeyPair, MlsApi } from "../../dist/index.js";
import {
  addContact, assertClean, browserSuite, cliSandbox, createGroup, groupEntry, groupMessage, groupMessages,
  groupsOpen, HISTORY_OF_NEW_CHAT, login, message, needs, PASSWORD, rand, register, screenshot, sdkGroupUser, send,
  sendToGroup, SERVER, setUpGroups, statusOf
} from "./helpers.mjs";

const skip = needs("server", "chromium");
const skipCli = needs("server", "chromium", "cli");
// cliSandbox() gives the CLI this passphrase (E2EE_TEST_PASSPHRASE), so the page uses it for the backups it makes
const PASSPHRASE = "the right passphrase";
const dir = mkdtempSync(join(tmpdir(), "e2ee-web-persist-"));
const suite = browserSuite(skip);
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const texts = (r) => r.messages.map((m) => (m.status === "ok" ? m.text : `<${m.status}>`));
const keyStepField = (user, id) => user.page.locator(`#${id}-error`);

/** A user of the SDK in Node with a first key (a contact to send to or hear from). */
async function sdkUser(name) {
  const username = `${name}_${rand()}`;
  const session = await connect(new ApiClient({ baseUrl: SERVER }), username, PASSWORD, { register: true });
  await session.registerKey(await generateKeyPair(2048));
  return { username, session };
}

test("a reload keeps the key, the pins and the MLS group; only the password is asked again", { skip, timeout: 300000 }, async (t) => {
  const alice = await suite.open("alice");
  const aliceName = `alice_${rand()}`;
  const fp = await register(alice, aliceName);
  const bob = await sdkGroupUser("bob");
  await addContact(alice, bob.username);
  await setUpGroups(alice);
  await createGroup(alice, "Kept", [bob.username]);
  const [groupId] = (await bob.device.sync()).joined;
  await bob.device.send(groupId, "before the reload");
  await groupMessage(alice, "before the reload").waitFor({ timeout: 30000 });
  await sendToGroup(alice, "mine, before the reload");
  const deviceLine = await alice.page.locator("#groups-device").textContent();
  // While the tab is away, Bob's key changes: the page must compare it with the pin it stored, not pin it afresh.
  await bob.session.rotateKey();

  const failedBefore = alice.log.failedRequests.length;
  await alice.page.reload();
  await alice.page.locator("#login-title").waitFor();
  // a poll in flight at the reload is aborted by it (and only that)
  for (const f of alice.log.failedRequests.splice(failedBefore)) assert.match(f, /^GET http:\/\/127\.0\.0\.1:\d+\/api\/\S+: net::ERR_ABORTED$/);
  assert.equal(await alice.page.locator("#account-bar").isHidden(), true, "the session token was not kept");
  assert.equal(await login(alice, aliceName), fp, "the same key, no key step");
  assert.equal(await alice.page.locator("#key-notice").isHidden(), true);
  // The key pair is in IndexedDB as CryptoKeys that cannot be exported.
  const stored = await alice.page.evaluate(async () => {
    const db = await new Promise((ok, fail) => Object.assign(indexedDB.open("e2ee"), { onsuccess: (e) => ok(e.target.result), onerror: fail }));
    const all = await new Promise((ok) => Object.assign(db.transaction("kv").objectStore("kv").getAll(), { onsuccess: (e) => ok(e.target.result) }));
    return all.filter((v) => v?.keyPair).map((v) => [v.keyPair.decryptKey.extractable, v.keyPair.signKey.extractable, v.keyPair.decryptKey instanceof CryptoKey]);
  });
  assert.deepEqual(stored, [[false, false, true]]);
  await alice.page.locator("#contact-list .contact", { hasText: "⚠ key changed: sending blocked" }).waitFor({ timeout: 30000 });

  // Group chats open by themselves (set up in this browser before), with the same device and the kept messages.
  await groupsOpen(alice);
  assert.equal(await alice.page.locator("#groups-device").textContent(), deviceLine);
  await groupEntry(alice, "Kept").click();
  await groupMessage(alice, "before the reload").waitFor();
  assert.deepEqual((await groupMessages(alice)).map(([text, status]) => [text, status]), [["before the reload", "ok"], ["mine, before the reload", "sent"]]);
  await bob.device.send(groupId, "after the reload");
  await groupMessage(alice, "after the reload").waitFor({ timeout: 30000 });
  await sendToGroup(alice, "mine, after the reload");
  // (Bob's own send read Alice's first message already: all of them, in log order)
  assert.deepEqual(texts(await bob.device.read(groupId, { all: true })), ["before the reload", "mine, before the reload", "after the reload", "mine, after the reload"]);
  await screenshot(t, alice, "group-after-reload");

  // Encrypted at rest (N9): IndexedDB read raw in the page holds neither a message text nor the device's Ed25519
  // signature key seed (searched as every 32-byte run of every stored byte string whose public key is the device's).
  const aliceId = (await bob.session.api.lookupUser(aliceName)).userId;
  const listed = await new MlsApi(bob.session.api).listDevices(aliceId);
  const devicePublicKeys = listed.devices.map((d) => fromBase64Strict(d.signatureKey));
  assert.equal(devicePublicKeys.length, 1);
  const raw = await alice.page.evaluate(async () => {
    const db = await new Promise((ok, fail) => Object.assign(indexedDB.open("e2ee"), { onsuccess: (e) => ok(e.target.result), onerror: fail }));
    const store = () => db.transaction("kv").objectStore("kv");
    const keys = await new Promise((ok) => Object.assign(store().getAllKeys(), { onsuccess: (e) => ok(e.target.result) }));
    const values = await new Promise((ok) => Object.assign(store().getAll(), { onsuccess: (e) => ok(e.target.result) }));
    const plain = (v) =>
      v instanceof Uint8Array ? { bytes: Array.from(v) } : v instanceof ArrayBuffer ? { bytes: Array.from(new Uint8Array(v)) } : v instanceof CryptoKey ? "CryptoKey"
        : Array.isArray(v) ? v.map(plain) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v;
    return keys.map((k, i) => [k, plain(values[i])]);
  });
  const mlsRecords = raw.filter(([k]) => k.startsWith(`mls/${aliceId}/`));
  assert.ok(mlsRecords.some(([k]) => k === `mls/${aliceId}/device`), "the device's state (the core's blob: keys, key packages, groups)");
  for (const [k, v] of mlsRecords) assert.deepEqual(Object.keys(v).sort(), ["ct", "nonce", "v"], `${k} is a sealed record`);
  const dump = JSON.stringify(raw, (_, v) => (v && Array.isArray(v.bytes) ? new TextDecoder().decode(new Uint8Array(v.bytes)) : v));
  for (const text of ["before the reload", "after the reload", "Kept"]) assert.ok(!dump.includes(text), `"${text}" is not readable in IndexedDB`);
  const byteStrings = [];
  JSON.stringify(raw, (_, v) => (v && Array.isArray(v.bytes) ? (byteStrings.push(new Uint8Array(v.bytes)), null) : v));
  let windows = 0;
  for (const b of byteStrings) {
    for (let i = 0; i + 32 <= b.length; i++, windows++) {
      const pub = ed25519.getPublicKey(b.subarray(i, i + 32));
      assert.ok(!devicePublicKeys.some((p) => p.every((x, j) => x === pub[j])), "the signature key seed is stored in the clear");
    }
  }
  assert.ok(windows > 1000, `searched ${windows} runs of 32 bytes`);
  await assertClean(alice, [HISTORY_OF_NEW_CHAT]);
});

test("a data key the password does not unwrap: the group chats' alert says so, the 1:1 chat works", { skip, timeout: 300000 }, async () => {
  const alice = await suite.open("alice");
  const aliceName = `alice_${rand()}`;
  await register(alice, aliceName);
  await setUpGroups(alice);
  const carol = await sdkUser("carol");
  const aliceId = (await carol.session.api.lookupUser(aliceName)).userId;
  const failedBefore = alice.log.failedRequests.length;
  await alice.page.reload();
  await alice.page.locator("#login-title").waitFor();
  for (const f of alice.log.failedRequests.splice(failedBefore)) assert.match(f, /^GET http:\/\/127\.0\.0\.1:\d+\/api\/\S+: net::ERR_ABORTED$/);
  // As if the MLS state had been sealed under another password: one byte of the wrapped data key changed.
  const changed = await alice.page.evaluate(async (name) => {
    const db = await new Promise((ok, fail) => Object.assign(indexedDB.open("e2ee"), { onsuccess: (e) => ok(e.target.result), onerror: fail }));
    const req = (r) => new Promise((ok, fail) => Object.assign(r, { onsuccess: (e) => ok(e.target.result), onerror: fail }));
    const rec = await req(db.transaction("kv").objectStore("kv").get(name));
    if (!rec) return false;
    rec.wrapped[0] ^= 1;
    await req(db.transaction("kv", "readwrite").objectStore("kv").put(rec, name));
    return true;
  }, `sealed/${encodeURIComponent(aliceId)}/key`);
  assert.ok(changed, "the wrapped data key is stored");
  await login(alice, aliceName);
  // Group chats were set up here, so they try to open at sign-in: they cannot, the alert says why, set-up is offered.
  await alice.page.locator("#alerts .alert", { hasText: "Your password does not unlock the group chat state stored in this browser" }).waitFor({ timeout: 60000 });
  await alice.page.locator("#groups-setup").waitFor();
  assert.equal(await alice.page.locator("#groups-main").isHidden(), true);
  // The 1:1 chat works: a message both ways.
  await addContact(alice, carol.username);
  await send(alice, "1:1 works without the group state");
  await carol.session.sendText(aliceName, "and the other way");
  await message(alice, "and the other way").waitFor({ timeout: 30000 });
  await assertClean(alice, [HISTORY_OF_NEW_CHAT], { alerts: [/^⚠ Error: Your password does not unlock the group chat state stored in this browser .*1:1 chats work\./] });
});

test("a backup file made at key generation is read by the CLI and imported into a fresh browser", { skip: skipCli, timeout: 300000 }, async (t) => {
  const cli = cliSandbox();
  const first = await suite.open("alice");
  const aliceName = `alice_${rand()}`;
  const { fp, backup } = await register(first, aliceName, { backupPassphrase: PASSPHRASE });
  assert.match(backup.suggestedFilename(), new RegExp(`^e2ee-${aliceName}-[0-9a-f]{16}\\.key$`));
  const file = join(dir, backup.suggestedFilename());
  await backup.saveAs(file);
  assert.match(readFileSync(file, "utf8"), /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
  assert.ok(statSync(file).size < 4096);
  // Done with the offer: the link goes (its object URL is revoked).
  await first.page.getByRole("button", { name: "Done" }).click();
  assert.equal(await first.page.locator("#backup-notice").isHidden(), true);
  assert.match(cli.text("fingerprint", file, "--passphrase-env", "E2EE_TEST_PASSPHRASE"), new RegExp(`^fingerprint: ${fp}$`, "m"));

  // A message for Alice's key, then a fresh browser (nothing stored) where she logs in and imports the file.
  const carol = await sdkUser("carol");
  await carol.session.sendText(aliceName, "sealed for the backed-up key");
  const second = await suite.open("alice, second browser");
  const fp2 = await login(second, aliceName, async () => {
    const { page } = second;
    await page.locator("#key-situation", { hasText: `Your account's key has the fingerprint ${fp}` }).waitFor();
    await page.getByLabel("Key file", { exact: true }).setInputFiles(file);
    await page.getByLabel("Passphrase of the key file").fill("not the passphrase");
    await page.getByRole("button", { name: "Import key" }).click();
    await keyStepField(second, "import-passphrase").filter({ hasText: "This passphrase does not open the key file." }).waitFor({ timeout: 30000 });
    assert.equal(await page.evaluate(() => document.activeElement?.id), "import-passphrase");
    await page.getByLabel("Passphrase of the key file").fill(PASSPHRASE);
    await page.getByRole("button", { name: "Import key" }).click();
  });
  assert.equal(fp2, fp);
  assert.equal(await second.page.locator("#key-notice").isHidden(), true, "the same key: no key change for contacts");
  await addContact(second, carol.username);
  await message(second, "sealed for the backed-up key").waitFor();
  assert.equal(await statusOf(second, "sealed for the backed-up key"), "✓ Verified");
  await screenshot(t, second, "backup-imported");
  await assertClean(first);
  await assertClean(second);
});

test("a key file of `e2ee keys init` is used by the page; a file of another account's key is refused", { skip: skipCli, timeout: 300000 }, async () => {
  const cli = cliSandbox();
  const unlocked = ["--passphrase-env", "E2EE_TEST_PASSPHRASE"];
  const [doraName, erinName] = [`dora_${rand()}`, `erin_${rand()}`];
  for (const [p, n] of [["dora", doraName], ["erin", erinName]]) cli(p, "register", n, "--password-env", "E2EE_TEST_PASSWORD");
  const dora = cli("dora", "keys", "init", ...unlocked);
  const erin = cli("erin", "keys", "init", ...unlocked);
  const keyFile = (profile, keyId) => join(cli.profileDir(profile), "keys", `${keyId}.key`);

  const user = await suite.open("dora");
  const { page } = user;
  const fp = await login(user, doraName, async () => {
    await page.getByLabel("Key file", { exact: true }).setInputFiles(keyFile("erin", erin.keyId));
    await page.getByLabel("Passphrase of the key file").fill(PASSPHRASE);
    await page.getByRole("button", { name: "Import key" }).click();
    const refused = `This file holds the key ${fingerprint(erin.keyId)}, but your account's active key is ${fingerprint(dora.keyId)}.`;
    await keyStepField(user, "import-file").filter({ hasText: refused }).waitFor({ timeout: 30000 });
    await page.getByLabel("Key file", { exact: true }).setInputFiles(keyFile("dora", dora.keyId));
    await page.getByRole("button", { name: "Import key" }).click();
  });
  assert.equal(fp, dora.fingerprint);

  // The page signs with the CLI's key: the receiver verifies it, and the CLI opens the page's message as its own.
  const frank = await sdkUser("frank");
  await addContact(user, frank.username);
  const text = `from the page, with the key of the CLI ${rand()}`;
  await page.locator("#composer-text").fill(text);
  await page.locator("#composer-text").press("Enter");
  await message(user, text).filter({ hasText: "✓ Sent" }).waitFor();
  assert.deepEqual((await frank.session.inbox()).map((m) => [m.text, m.status]), [[text, "verified"]]);
  const history = cli("dora", "history", frank.username, "--all", ...unlocked).messages;
  assert.deepEqual(history.map((m) => [m.text, m.status]), [[text, "verified"]]);
  await assertClean(user, [HISTORY_OF_NEW_CHAT]);
});
