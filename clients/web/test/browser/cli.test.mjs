// A browser user and a user of the Rust CLI (`e2ee`, E2EE_CLI) chat both ways: each side shows the fingerprint
// the other side generated, and each verifies what the other sealed and signed.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  addContact, assertClean, browserSuite, cliSandbox, HISTORY_OF_NEW_CHAT, message, needs, rand, register, screenshot,
  send, statusOf
} from "./helpers.mjs";

const skip = needs("server", "chromium", "cli");
const suite = browserSuite(skip);

test("a browser user and a CLI user chat both ways, verified on both sides", { skip, timeout: 180000 }, async (t) => {
  const cli = cliSandbox();
  const unlocked = ["--passphrase-env", "E2EE_TEST_PASSPHRASE"];
  const carolName = `carol_${rand()}`;
  assert.equal(cli("carol", "register", carolName, "--password-env", "E2EE_TEST_PASSWORD").username, carolName);
  const carolKey = cli("carol", "keys", "init", ...unlocked);

  const alice = await suite.open("alice");
  const aliceName = `alice_${rand()}`;
  const aliceFp = await register(alice, aliceName);
  assert.equal(await addContact(alice, carolName), carolKey.fingerprint);
  const verify = cli("carol", "keys", "verify", aliceName);
  assert.equal(verify.status, "new");
  assert.equal(verify.fingerprint, aliceFp);

  // browser -> CLI
  const toCarol = `sealed in Chromium ${rand()}`;
  await send(alice, toCarol);
  const inbox = cli("carol", "inbox", ...unlocked).messages;
  assert.deepEqual(inbox.map((m) => [m.text, m.status, m.sender]), [[toCarol, "verified", aliceName]]);

  // CLI -> browser, picked up by the page's poll
  const toAlice = `sealed by the Rust CLI ${rand()}\nsecond line`;
  cli("carol", "send", aliceName, toAlice, ...unlocked);
  await message(alice, toAlice).waitFor();
  assert.equal(await statusOf(alice, toAlice), "✓ Verified");

  const history = cli("carol", "history", aliceName, "--all", ...unlocked).messages;
  assert.deepEqual(history.map((m) => [m.text, m.status]), [[toCarol, "verified"], [toAlice, "verified"]]);

  await screenshot(t, alice, "cli-chat-alice");
  await assertClean(alice, [HISTORY_OF_NEW_CHAT]);
});
