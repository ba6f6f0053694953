// Linking a device in the page (docs/mls.md, "Linking a device"): a browser of an account that has a group device
// already becomes a PENDING device (fingerprint shown, a reload keeps it), is approved from another device — the CLI
// (`e2ee device approve ID`), or another browser of the user (its "Approve" button) — and then joins the user's
// groups on the approving device's next sync, messages both ways.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  assertClean, browserSuite, cliSandbox, createGroup, groupEntry, groupMessage, groupsOpen, importKeyFile, login, needs,
  rand, register, screenshot, sdkGroupUser, sendToGroup, setUpGroups, setUpPendingGroups
} from "./helpers.mjs";

const skip = needs("server", "chromium", "cli");
const suite = browserSuite(skip);
// cliSandbox() gives the CLI this passphrase (E2EE_TEST_PASSPHRASE); the page's backups use it too
const PASSPHRASE = "the right passphrase";
const dir = mkdtempSync(join(tmpdir(), "e2ee-web-link-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the page links to a CLI user's account: pending with its fingerprint, approved by the CLI, then in the CLI's group", { skip, timeout: 300000 }, async (t) => {
  const cli = cliSandbox();
  const unlocked = ["--passphrase-env", "E2EE_TEST_PASSPHRASE"];
  const [rustyName, bobName] = [`rusty_${rand()}`, `bob_${rand()}`];
  const keys = {};
  for (const [p, n] of [["rusty", rustyName], ["bob", bobName]]) {
    cli(p, "register", n, "--password-env", "E2EE_TEST_PASSWORD");
    keys[p] = cli(p, "keys", "init", ...unlocked);
    assert.equal(cli(p, "device", "init", "--device-id", "laptop", ...unlocked).status, "active");
  }
  const made = cli("rusty", "group", "create", "--name", "cli-group", "--member", bobName, ...unlocked);
  assert.deepEqual(cli("bob", "sync", ...unlocked).joined, [made.groupId]);

  // Rusty in the page, with the CLI's key file (the key step): the CLI's device exists, so this one is pending.
  const user = await suite.open("rusty in the page");
  const { page } = user;
  await login(user, rustyName, () => importKeyFile(user, join(cli.profileDir("rusty"), "keys", `${keys.rusty.keyId}.key`), PASSPHRASE));
  const pending = await setUpPendingGroups(user, "Linked browser");
  assert.match(pending.deviceId, /^web-[0-9a-f]{8}$/);
  assert.equal(pending.command, `e2ee device approve ${pending.deviceId}`);
  assert.equal(await page.evaluate(() => document.activeElement?.id), "groups-pending-title");
  assert.equal(await page.locator("#groups-main").isHidden(), true);
  assert.equal(await page.locator("#groups-setup").isHidden(), true);
  await screenshot(t, user, "link-pending");

  // The CLI lists it with the fingerprint the page shows, and approves it.
  const listed = cli("rusty", "device", "approve", ...unlocked).devices;
  assert.deepEqual(listed.map((d) => [d.deviceId, d.fingerprint, d.status]), [[pending.deviceId, pending.fingerprint, "pending"]]);
  assert.equal(cli("rusty", "device", "approve", pending.deviceId, ...unlocked).devices[0].status, "active");
  // The page's poll notices, uploads its key packages and opens group chats; the CLI's next sync adds it to the group.
  await groupsOpen(user);
  assert.equal(await page.locator("#groups-pending").isHidden(), true);
  assert.match(await page.locator("#groups-device").textContent(), new RegExp(pending.deviceId));
  cli("rusty", "sync", ...unlocked);
  // named by its members; this browser never looked Bob up by name (names are local), so he is unnamed here
  const group = groupEntry(user, "Group with unnamed user");
  await group.waitFor({ timeout: 30000 });
  cli("bob", "group", "send", made.groupId, "bob writes after the add", ...unlocked);
  await group.click();
  await groupMessage(user, "bob writes after the add").waitFor({ timeout: 30000 });
  await sendToGroup(user, "rusty from the linked browser");
  const read = cli("bob", "group", "read", made.groupId, ...unlocked).messages.map((m) => [m.text, m.status, m.senderDevice]);
  assert.deepEqual(read, [["rusty from the linked browser", "ok", pending.deviceId]]);
  await assertClean(user); // no request failed: the page saw the active device and registered pending
});

test("two browsers of one user: the second waits (also across a reload), the first approves it from the page", { skip, timeout: 300000 }, async (t) => {
  const first = await suite.open("alice, first browser");
  const aliceName = `alice_${rand()}`;
  const { backup } = await register(first, aliceName, { backupPassphrase: PASSPHRASE });
  const file = join(dir, backup.suggestedFilename());
  await backup.saveAs(file);
  await first.page.getByRole("button", { name: "Done" }).click();
  await setUpGroups(first);
  const carol = await sdkGroupUser("carol");
  await createGroup(first, "Family", [carol.username]);
  const [groupId] = (await carol.device.sync()).joined;
  assert.ok(groupId);
  const approvals = first.page.locator("#device-approvals");
  assert.equal(await approvals.isHidden(), true, "no pending device: no approval list");

  const second = await suite.open("alice, second browser");
  await login(second, aliceName, () => importKeyFile(second, file, PASSPHRASE));
  const pending = await setUpPendingGroups(second, "Second browser");
  // A reload while pending opens the same pending device: no second registration.
  const failedBefore = second.log.failedRequests.length;
  await second.page.reload();
  await second.page.locator("#login-title").waitFor();
  // a poll in flight at the reload is aborted by it (and only that)
  for (const f of second.log.failedRequests.splice(failedBefore)) assert.match(f, /^GET http:\/\/127\.0\.0\.1:\d+\/api\/\S+: net::ERR_ABORTED$/);
  await login(second, aliceName);
  await second.page.getByRole("heading", { name: "⌛ Waiting for approval" }).waitFor({ timeout: 60000 });
  assert.equal((await second.page.locator("#groups-pending-id").textContent()).trim(), pending.deviceId);

  // The first browser lists exactly that device with the same fingerprint; its Approve button approves it.
  const item = first.page.locator("#device-approval-list li.device");
  await item.first().waitFor({ timeout: 30000 });
  assert.deepEqual(await item.evaluateAll((els) => els.map((e) => [e.dataset.deviceId, e.querySelector("code").textContent])), [
    [pending.deviceId, pending.fingerprint],
  ]);
  await first.page.getByRole("button", { name: `Approve ${pending.deviceId}` }).click();
  await approvals.waitFor({ state: "hidden", timeout: 30000 });
  assert.equal(await first.page.evaluate(() => document.activeElement?.id), "groups-title");

  // The second browser opens group chats; the first one's next poll adds it to the group.
  await groupsOpen(second);
  await second.page.locator("#groups-title:focus").waitFor();
  const family = groupEntry(second, "Group with unnamed user"); // Carol was looked up in the first browser only
  await family.waitFor({ timeout: 30000 });
  await carol.device.send(groupId, "carol to both of alice's browsers");
  await family.click();
  await groupMessage(second, "carol to both of alice's browsers").waitFor({ timeout: 30000 });
  await groupMessage(first, "carol to both of alice's browsers").waitFor({ timeout: 30000 });
  await sendToGroup(second, "from alice's second browser");
  const read = (await carol.device.read(groupId)).messages.map((m) => [m.text, m.status, m.senderDevice]);
  assert.deepEqual(read, [["from alice's second browser", "ok", pending.deviceId]]);
  await screenshot(t, second, "link-approved");
  await assertClean(first);
  await assertClean(second);
});
