// Against a running API server: E2EE_SERVER=http://127.0.0.1:9411 npm run test:served
// Skipped when E2EE_SERVER is unset, except with CI=true, where that is a failure.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { ApiClient, ApiError, KeyChangedError, Session, generateKeyPair, chatId } from "../../dist/index.js";
import { PASSWORD, SERVER, requires, suffix } from "./support.mjs";

const skip = requires();
const names = { alice: `alice_${suffix}`, bob: `bob_${suffix}` };
const S = {};

async function account(name) {
  const api = new ApiClient({ baseUrl: SERVER });
  const reg = await api.register(name, PASSWORD);
  assert.match(reg.userId, /^u_[0-9a-f]{32}$/);
  const login = await api.login(name, PASSWORD);
  assert.equal(login.userId, reg.userId);
  assert.equal(login.tokenType, "Bearer");
  assert.ok(login.expiresAt > Date.now());
  const s = new Session({ api, userId: login.userId, sendRetryDelays: [] });
  const kp = await generateKeyPair(2048);
  const info = await s.registerKey(kp);
  assert.equal(info.keyId, kp.keyId);
  assert.equal(info.status, "active");
  return s;
}

if (SERVER) {
  before(async () => {
    [S.alice, S.bob] = await Promise.all([account(names.alice), account(names.bob)]);
  });
}

test("Alice sends, Bob reads verified, replies, Alice reads; history has both", { skip }, async () => {
  const sent = await S.alice.sendText(names.bob, "hello Bob");
  assert.equal(sent.created, true);
  assert.match(sent.messageId, /^m_[0-9a-f]{32}$/);
  assert.equal(sent.chatId, await chatId(S.alice.userId, S.bob.userId));

  const inbox = await S.bob.inbox();
  assert.equal(inbox.length, 1);
  assert.equal(inbox[0].text, "hello Bob");
  assert.equal(inbox[0].status, "verified", inbox[0].reason);
  assert.equal(inbox[0].senderId, S.alice.userId);

  await S.bob.sendText(names.alice, "hi Alice");
  const a = await S.alice.inbox();
  assert.equal(a.length, 1);
  assert.equal(a[0].text, "hi Alice");
  assert.equal(a[0].status, "verified", a[0].reason);

  const h = await S.alice.history(names.bob);
  assert.deepEqual(h.messages.map((m) => [m.text, m.status]), [["hello Bob", "verified"], ["hi Alice", "verified"]]);
  const hb = await S.bob.history(h.chatId, { order: "desc", limit: 1 });
  assert.equal(hb.messages.length, 1);
  assert.equal(hb.messages[0].text, "hi Alice");
  assert.ok(hb.nextCursor);
  const hb2 = await S.bob.history(h.chatId, { order: "desc", limit: 1, cursor: hb.nextCursor });
  assert.equal(hb2.messages[0].text, "hello Bob");
});

test("mark-read removes the message from the inbox and is idempotent", { skip }, async () => {
  await S.alice.sendText(names.bob, "read me");
  const inbox = await S.bob.inbox();
  const m = inbox.find((x) => x.text === "read me");
  assert.ok(m);
  const r1 = await S.bob.markRead(m.messageId);
  assert.equal(r1.messageId, m.messageId);
  const r2 = await S.bob.markRead(m.messageId);
  assert.equal(r2.readAt, r1.readAt);
  assert.ok(!(await S.bob.inbox()).some((x) => x.messageId === m.messageId));
  // Alice is not the receiver
  await assert.rejects(S.alice.markRead(m.messageId), (e) => e instanceof ApiError && e.status === 403);
  for (const x of await S.bob.inbox()) await S.bob.markRead(x.messageId);
});

test("server errors become ApiError with the server's status and code", { skip }, async () => {
  const api = new ApiClient({ baseUrl: SERVER });
  await assert.rejects(api.login(names.alice, "wrong password here 1"), (e) => e instanceof ApiError && e.status === 401 && e.code === "invalid_credentials");
  await assert.rejects(api.register(names.alice, PASSWORD), (e) => e instanceof ApiError && e.status === 409 && e.code === "username_taken");
  await assert.rejects(api.register("x", PASSWORD), (e) => e instanceof ApiError && e.status === 400 && e.code === "invalid_username");
  await assert.rejects(S.alice.api.lookupUser(`nobody_${suffix}`), (e) => e instanceof ApiError && e.status === 404 && e.code === "user_not_found");
  await assert.rejects(S.alice.api.receive(S.bob.userId), (e) => e instanceof ApiError && e.status === 403 && e.code === "not_your_inbox");
  await assert.rejects(S.alice.api.history("c_" + "0".repeat(64)), (e) => e instanceof ApiError && e.status === 404 && e.code === "chat_not_found");
});

test("onUnauthorized: a garbage token is replaced once by a fresh login", { skip }, async () => {
  let calls = 0;
  const api = new ApiClient({
    baseUrl: SERVER,
    token: "garbage.token.value",
    onUnauthorized: async () => {
      calls++;
      return (await new ApiClient({ baseUrl: SERVER }).login(names.alice, PASSWORD)).token;
    },
  });
  const u = await api.lookupUser(names.bob);
  assert.equal(u.userId, S.bob.userId);
  assert.equal(calls, 1);
  const noHook = new ApiClient({ baseUrl: SERVER, token: "garbage", onUnauthorized: async () => null });
  await assert.rejects(noHook.lookupUser(names.bob), (e) => e instanceof ApiError && e.status === 401);
});

test("Bob's new key: Alice's send throws KeyChangedError until acceptKeyChange", { skip }, async () => {
  const oldKey = S.bob.key.keyId;
  const kp = await generateKeyPair(2048);
  await S.bob.registerKey(kp); // authorized by the old active key
  assert.notEqual(kp.keyId, oldKey);
  await assert.rejects(S.alice.sendText(names.bob, "to the new key?"), (e) => {
    assert.ok(e instanceof KeyChangedError);
    assert.equal(e.oldKeyId, oldKey);
    assert.equal(e.newKeyId, kp.keyId);
    assert.match(e.oldFingerprint, /^([0-9A-F]{4} ){7}[0-9A-F]{4}$/);
    return true;
  });
  await S.alice.acceptKeyChange(S.bob.userId);
  const sent = await S.alice.sendText(names.bob, "after accepting");
  assert.equal(sent.receiverKeyId, kp.keyId);
  const inbox = await S.bob.inbox();
  const m = inbox.find((x) => x.messageId === sent.messageId);
  assert.equal(m?.text, "after accepting");
  assert.equal(m.status, "verified", m.reason);
  // Bob replies with the new key; Alice (who accepted it) verifies it
  await S.bob.sendText(names.alice, "new key here");
  const a = await S.alice.inbox();
  const r = a.find((x) => x.text === "new key here");
  assert.equal(r?.status, "verified", r?.reason);
});

test("a second key without authorization is refused; the password works as second factor", { skip }, async () => {
  const api = new ApiClient({ baseUrl: SERVER });
  const login = await api.login(names.alice, PASSWORD);
  const fresh = new Session({ api, userId: login.userId }); // no current key known here
  await assert.rejects(fresh.registerKey(await generateKeyPair(2048)), (e) => e instanceof ApiError && e.status === 403 && e.code === "authorization_required");
  const kp = await generateKeyPair(2048);
  const info = await fresh.registerKey(kp, { password: PASSWORD });
  assert.equal(info.keyId, kp.keyId);
});
