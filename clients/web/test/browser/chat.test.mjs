// Two browser users chat through the page (served by serve.mjs, CORS front, the real API): register with keys
// generated in each browser, add each other (fingerprints match the other side's own), a message from someone
// not yet added (unread count, unnamed contact), verified states both ways, live delivery by polling with an
// aria-live announcement, focus moves, and history paging with "load older".

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  addContact, announced, assertClean, browserSuite, HISTORY_OF_NEW_CHAT, message, needs, rand, register, screenshot,
  send, shownTexts, statusOf
} from "./helpers.mjs";

const skip = needs("server", "chromium");
const PAGE_SIZE = 4;
const suite = browserSuite(skip, { pollMs: 400, pageSize: PAGE_SIZE });

test("two browser users chat both ways, with unread counts, verified states and history paging", { skip, timeout: 180000 }, async (t) => {
  const alice = await suite.open("alice");
  const bob = await suite.open("bob");
  const aliceName = `alice_${rand()}`;
  const bobName = `bob_${rand()}`;
  const aliceFp = await register(alice, aliceName);
  const bobFp = await register(bob, bobName);
  assert.match(aliceFp, /^([0-9A-F]{4} ){7}[0-9A-F]{4}$/);
  assert.notEqual(aliceFp, bobFp);

  // Alice adds Bob: the key pinned on first use is the one Bob's browser generated; focus is in the composer.
  assert.equal(await addContact(alice, bobName), bobFp);
  assert.equal(await alice.page.evaluate(() => document.activeElement?.id), "composer-text");
  await alice.page.getByText("Start of the conversation.").waitFor();
  await send(alice, "hello bob");
  await send(alice, "line one\nline two");

  // Bob has not added Alice: her messages show up as an unnamed contact with an unread count.
  const unnamed = bob.page.locator("#contact-list .contact", { hasText: "unnamed user" });
  await unnamed.filter({ hasText: "2 unread" }).waitFor();
  await announced(bob, /New messages? from unnamed user/);

  // Adding her by name names that contact, opens the chat, shows both verified and marks them read.
  assert.equal(await addContact(bob, aliceName), aliceFp);
  assert.equal(await statusOf(bob, "hello bob"), "✓ Verified");
  assert.equal(await statusOf(bob, "line one\nline two"), "✓ Verified");
  const bobsAlice = bob.page.locator("#contact-list .contact", { hasText: aliceName });
  await bobsAlice.filter({ hasNotText: "unread" }).waitFor();
  assert.equal(await bob.page.locator("#contact-list .contact").count(), 1, "the unnamed entry became Alice");
  assert.equal(await bobsAlice.getAttribute("aria-current"), "true");

  // Bob answers; Alice's open chat picks it up by polling, verified, and announces it.
  await send(bob, "hi alice");
  await message(alice, "hi alice").waitFor();
  assert.equal(await statusOf(alice, "hi alice"), "✓ Verified");
  await announced(alice, `New message from ${bobName}: hi alice`);
  assert.equal(await statusOf(alice, "hello bob"), "✓ Sent: sealed and signed in this browser");

  // More than a page: Bob sees them arrive live; opened again, the chat shows the newest page only.
  const more = ["m1", "m2", "m3", "m4"];
  for (const m of more) await send(alice, m);
  for (const m of more) await message(bob, m).waitFor();
  const all = ["hello bob", "line one\nline two", "hi alice", ...more];
  assert.deepEqual(await shownTexts(bob), all);

  await bobsAlice.click();
  await message(bob, "m4").waitFor();
  assert.deepEqual(await shownTexts(bob), all.slice(-PAGE_SIZE));
  const older = bob.page.getByRole("button", { name: "Load older messages" });
  await older.click();
  await message(bob, "line one\nline two").waitFor();
  assert.deepEqual(await shownTexts(bob), all.slice(-2 * PAGE_SIZE));
  // the last page: the button goes, focus moves to the start marker
  assert.equal(await older.isHidden(), true);
  assert.equal(await bob.page.evaluate(() => document.activeElement?.id), "history-start");
  // from history, Bob's own message verifies with his own key, Alice's with her pinned one
  const statuses = await bob.page.locator("#messages li.msg").evaluateAll((els) => els.map((e) => e.dataset.status));
  assert.deepEqual(statuses, all.map(() => "verified"));

  // Alice, whose chat stayed open, never had anything unread; Bob's count went back to none.
  assert.equal(await alice.page.locator("#contact-list .unread").count(), 0);
  assert.equal(await bob.page.locator("#contact-list .unread").count(), 0);

  await screenshot(t, alice, "chat-alice");
  await screenshot(t, bob, "chat-bob");
  await assertClean(alice, [HISTORY_OF_NEW_CHAT]);
  await assertClean(bob);
});
