// A browser user and a user of the Rust CLI (`e2ee`, openmls) in MLS groups through the served API: a group created
// in the page with the CLI user and one created by the CLI with the browser user, messages both ways in each, and
// the CLI's device trusted in the page's member panel (certified by the CLI user's key, pinned on first use).

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  assertClean, browserSuite, cliSandbox, createGroup, groupEntry, groupMessage, groupMessages, memberPanel, needs,
  rand, register, screenshot, sendToGroup, setUpGroups
} from "./helpers.mjs";

const skip = needs("server", "chromium", "cli");
const suite = browserSuite(skip);

test("a browser user and a CLI user in one MLS group, created by each side, messages both ways", { skip, timeout: 300000 }, async (t) => {
  const cli = cliSandbox();
  const unlocked = ["--passphrase-env", "E2EE_TEST_PASSPHRASE"];
  const rustyName = `rusty_${rand()}`;
  cli("rusty", "register", rustyName, "--password-env", "E2EE_TEST_PASSWORD");
  cli("rusty", "keys", "init", ...unlocked);
  assert.equal(cli("rusty", "device", "init", "--device-id", "laptop", ...unlocked).status, "active");
  const cliRead = (groupId) => cli("rusty", "group", "read", groupId, ...unlocked).messages.map((m) => [m.text, m.status, m.senderDevice]);

  const alice = await suite.open("alice");
  const aliceName = `alice_${rand()}`;
  await register(alice, aliceName);
  await setUpGroups(alice);

  // Created in the page (the core in WebAssembly) with the CLI user: the CLI (the core natively) joins on its sync.
  await createGroup(alice, "Made in Chromium", [rustyName]);
  await alice.page.locator("#member-list .member", { hasText: rustyName }).waitFor();
  assert.deepEqual((await memberPanel(alice))[rustyName], [["laptop", true, "in the group"]]);
  const fromPage = cli("rusty", "sync", ...unlocked).joined;
  assert.equal(fromPage.length, 1);
  const [pageGroup] = fromPage;
  await sendToGroup(alice, "sealed by the page in Chromium");
  const read = cliRead(pageGroup);
  assert.equal(read.length, 1);
  assert.deepEqual(read[0].slice(0, 2), ["sealed by the page in Chromium", "ok"]);
  assert.match(read[0][2], /^web-[0-9a-f]{8}$/);
  cli("rusty", "group", "send", pageGroup, "openmls answers", ...unlocked);
  await groupMessage(alice, "openmls answers").waitFor({ timeout: 30000 });

  // Created by the CLI with the browser user: the page's poll joins it, named by its members (names are local).
  const made = cli("rusty", "group", "create", "--name", "made-by-cli", "--member", aliceName, ...unlocked);
  const cliGroup = groupEntry(alice, `Group with ${rustyName}`);
  await cliGroup.waitFor({ timeout: 30000 });
  cli("rusty", "group", "send", made.groupId, "first words from the CLI", ...unlocked);
  await cliGroup.filter({ hasText: "1 unread" }).waitFor({ timeout: 30000 });
  await cliGroup.click();
  await groupMessage(alice, "first words from the CLI").waitFor();
  await sendToGroup(alice, "the browser replies");
  assert.deepEqual(cliRead(made.groupId).map((m) => m.slice(0, 2)), [["the browser replies", "ok"]]);
  assert.deepEqual(await groupMessages(alice), [
    ["first words from the CLI", "ok", "✓ Authenticated: sent by a member device of the group"],
    ["the browser replies", "sent", "✓ Sent: encrypted in this browser"],
  ]);
  const members = cli("rusty", "group", "members", made.groupId, ...unlocked).members;
  assert.deepEqual(members.map((m) => m.userId).sort(), [...new Set(members.map((m) => m.userId))].sort());
  assert.equal(members.length, 2);

  await screenshot(t, alice, "group-cli-alice");
  await assertClean(alice);
});
