// Group chats (MLS) between two browser users through the served API, with a third member who is an SDK user in
// Node: set up (the MLS chunks are loaded only then, and no ts-mls chunk for other algorithms), create, messages
// both ways delivered by polling with unread counts, the member panel (each user's devices, trusted), the third
// member added and later removed by the other browser, and a key change that makes the page refuse the changed
// user's new device (trust refusal shown, the device listed as not trusted).

import { test } from "node:test";
import assert from "node:assert/strict";
import * as esbuild from "esbuild";
import { MlsDevice, MemoryKvStore } from "../../dist/index.js";
import { pageChunks, pageOptions } from "../../scripts/bundle.mjs";
import {
  addContact, announced, assertClean, browserSuite, createGroup, groupEntry, groupMessage, groupMessages,
  HISTORY_OF_NEW_CHAT, memberPanel, needs, rand, register, screenshot, sdkGroupUser, sendToGroup, setUpGroups
} from "./helpers.mjs";

const skip = needs("server", "chromium");
const suite = browserSuite(skip);

const texts = (r) => r.messages.map((m) => (m.status === "ok" ? m.text : `<${m.status}>`));
const alerts = (user) => user.page.locator("#alerts").getByRole("alert");

test("two browsers and an SDK user in one MLS group: create, both ways, add, remove", { skip, timeout: 300000 }, async (t) => {
  const alice = await suite.open("alice");
  const bob = await suite.open("bob");
  const aliceName = `alice_${rand()}`;
  const bobName = `bob_${rand()}`;
  await register(alice, aliceName);
  await register(bob, bobName);
  // The 1:1 page loads its own chunks only; group chats load the MLS part (groups.js and the core's module).
  const chunks = pageChunks((await esbuild.build(pageOptions({ write: false, metafile: true }))).metafile);
  assert.deepEqual(new Set(alice.log.scripts), chunks.eager);
  await setUpGroups(alice, "Alice's laptop");
  await setUpGroups(bob);

  // Alice creates the group with Bob (looked up by name: pinned on first use); both devices trusted, in the group.
  await createGroup(alice, "Trio", [bobName]);
  await alice.page.locator("#member-list .member", { hasText: bobName }).waitFor();
  const panel = await memberPanel(alice);
  assert.deepEqual(Object.keys(panel).sort(), [`${aliceName} (you)`, bobName].sort());
  assert.equal(panel[`${aliceName} (you)`].length, 1);
  assert.deepEqual(panel[`${aliceName} (you)`][0].slice(1), [true, "in the group"]);
  assert.match(panel[bobName][0][0], /^web-[0-9a-f]{8}$/);
  assert.deepEqual(panel[bobName][0].slice(1), [true, "in the group"]);
  assert.match(await alice.page.locator("#member-list").textContent(), /Alice's laptop \(web-[0-9a-f]{8}\) · ✓ trusted: certified by your key/);

  // Bob's poll joins from the Welcome. Group names are local, so Bob's page names it by its members: Alice is an
  // unnamed user to Bob (the API has no lookup by user id) until he adds her as a contact by name.
  await announced(bob, "You were added to Group with unnamed user");
  await groupEntry(bob, "Group with unnamed user").waitFor();
  await addContact(bob, aliceName);
  const bobsEntry = groupEntry(bob, `Group with ${aliceName}`);
  await bobsEntry.waitFor({ timeout: 30000 });
  await sendToGroup(alice, "hello group");
  await bobsEntry.filter({ hasText: "1 unread" }).waitFor({ timeout: 30000 });
  await announced(bob, `New group messages in Group with ${aliceName}.`);
  await bobsEntry.click();
  await groupMessage(bob, "hello group").waitFor();
  assert.deepEqual(await groupMessages(bob), [["hello group", "ok", "✓ Authenticated: sent by a member device of the group"]]);
  await bobsEntry.filter({ hasNotText: "unread" }).waitFor();
  assert.equal(await bob.page.evaluate(() => document.activeElement?.id), "group-composer-text");

  // Bob answers; Alice's open group shows it by polling and announces it.
  await sendToGroup(bob, "hi alice, bob here");
  await groupMessage(alice, "hi alice, bob here").waitFor({ timeout: 30000 });
  await announced(alice, `${bobName} in the group: hi alice, bob here`);

  // Carol (the SDK in Node) is added from Alice's page, joins on her sync and reads from then on.
  const carol = await sdkGroupUser("carol");
  await alice.page.getByLabel("Add a member by username").fill(carol.username);
  await alice.page.getByLabel("Add a member by username").press("Enter");
  await alice.page.locator("#member-list .member", { hasText: carol.username }).waitFor({ timeout: 30000 });
  const [groupId] = (await carol.device.sync()).joined;
  assert.match(groupId, /^[0-9a-f]{32}$/);
  await sendToGroup(alice, "welcome carol");
  assert.deepEqual(texts(await carol.device.read(groupId)), ["welcome carol"]);
  await carol.device.send(groupId, "carol says hi");
  await groupMessage(alice, "carol says hi").waitFor({ timeout: 30000 });
  await groupMessage(bob, "carol says hi").waitFor({ timeout: 30000 });
  // Bob's page learnt of Carol from Alice's commit: her device is in his member panel too, trusted on first use;
  // he never looked her up by name, so she is an unnamed user there.
  await bob.page.locator("#member-list .member", { hasText: "unnamed user" }).waitFor({ timeout: 30000 });
  assert.ok(Object.values(await memberPanel(bob)).every((devices) => devices.every(([, trusted]) => trusted)));
  assert.match(await bob.page.locator("#member-list").textContent(), /\(node\) · ✓ trusted: certified by the key you pinned for unnamed user/);

  // Bob removes Carol; Alice's member panel follows, Carol learns it on her next read, later messages miss her.
  const carolRow = bob.page.locator("#member-list .member").filter({ has: bob.page.locator(".device", { hasText: "(node)" }) });
  await carolRow.getByRole("button", { name: /^Remove / }).click();
  await bob.page.locator("#member-list .member").nth(2).waitFor({ state: "detached", timeout: 30000 });
  await alice.page.locator("#member-list .member", { hasText: carol.username }).waitFor({ state: "detached", timeout: 30000 });
  assert.equal((await carol.device.read(groupId)).removed, true);
  await sendToGroup(bob, "just the two of us");
  await groupMessage(alice, "just the two of us").waitFor({ timeout: 30000 });

  assert.deepEqual((await groupMessages(alice)).map(([text, status]) => [text, status]), [
    ["hello group", "sent"],
    ["hi alice, bob here", "ok"],
    ["welcome carol", "sent"],
    ["carol says hi", "ok"],
    ["just the two of us", "ok"],
  ]);
  assert.equal(await alice.page.locator("#group-list .unread").count(), 0);
  assert.deepEqual(new Set(alice.log.scripts), new Set([...chunks.eager, ...chunks.mls]));
  t.diagnostic(`scripts loaded: ${alice.log.scripts.join(" ")}`);
  await screenshot(t, alice, "group-alice");
  await screenshot(t, bob, "group-bob");
  await assertClean(alice);
  await assertClean(bob, [HISTORY_OF_NEW_CHAT]);
});

test("a device certified by a key the page has not accepted is refused: shown as an error, nothing added", { skip, timeout: 180000 }, async (t) => {
  const alice = await suite.open("alice");
  await register(alice, `alice_${rand()}`);
  await setUpGroups(alice);
  // Alice's page pins Dave's key (a first group with him); then Dave registers a new key and certifies a new device
  // with it. Alice never accepted that key, so the new device is a stranger to her page.
  const dave = await sdkGroupUser("dave");
  await createGroup(alice, "With Dave", [dave.username]);
  await dave.session.rotateKey();
  const phone = await MlsDevice.request({ session: dave.session, kv: new MemoryKvStore(), deviceId: "phone", username: dave.username });
  await dave.device.approve({ deviceId: "phone" });
  await phone.device.topUpKeyPackages();

  const { page } = alice;
  await page.getByLabel("Group name (optional)").fill("Refused");
  await page.getByLabel("Members", { exact: true }).fill(dave.username);
  await page.getByRole("button", { name: "Create group" }).click();
  const refusal = /^⚠ Error: Trust refused: the server offered a key package for u_[0-9a-f]+\/phone, a device dave_\w+ never certified with a key this device trusts; nothing was changed\./;
  await alerts(alice).filter({ hasText: "Trust refused:" }).waitFor({ timeout: 30000 });
  // The group exists with Alice's device only: Dave was not added, neither device.
  const refused = groupEntry(alice, "Refused");
  await refused.filter({ hasText: "1 member" }).waitFor();
  // The first group's member panel, opened again, lists Dave's new device as not trusted and not in the group.
  await groupEntry(alice, "With Dave").click();
  await alice.page.locator("#member-list .device", { hasText: "(phone)" }).waitFor({ timeout: 30000 });
  assert.deepEqual((await memberPanel(alice))[dave.username].sort(), [["node", true, "in the group"], ["phone", false, "not in the group"]]);
  assert.match(await alice.page.locator("#member-list").textContent(), new RegExp(`phone \\(phone\\) · ⚠ not trusted: not certified by a key you trust for ${dave.username}`));
  await screenshot(t, alice, "group-trust-refused");
  await assertClean(alice, [], { alerts: [refusal] });
});
