#!/usr/bin/env node
// Regenerates events/*.json: sample API Gateway events for every function (HTTP API v2) plus one REST API (v1)
// event. Used by the tests and by `cargo lambda invoke <fn> --data-file events/<fn>.json`.
//
//   node scripts/gen_events.mjs            # rewrite events/
//
// The ids below are fixed so the events agree with each other (the chat id is derived from the two user ids, the
// envelope is sealed from alice to bob and alice with the committed fixture keys in tests/interop/fixtures.json,
// signed by alice). A fresh run changes only the randomized parts of the envelope (nonce, wrapped keys,
// ciphertext, signature). Bearer tokens are the placeholder REPLACE_WITH_TOKEN; tests substitute a real JWT.
// events/README.md says who the caller of each event is.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { seal, chatId } from '../tests/interop/envelope.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = JSON.parse(fs.readFileSync(path.join(root, 'tests/interop/fixtures.json'), 'utf8'));
const alice = fixtures.keys.alice;
const bob = fixtures.keys.bob;

export const IDS = {
  alice: 'u_5f1c2a9e7b3d4c6e8a0f1b2c3d4e5f60',
  bob: 'u_9a8b7c6d5e4f40312a1b2c3d4e5f6a7b',
  message: 'm_0b1c2d3e4f5a46b7c8d9e0f1a2b3c4d5',
  clientMessageId: '01JDX3N8Q7R2K4M6P9S1T3V5W7',
  createdAt: 1795681800000, // 2026-11-26T08:30:00Z
};
IDS.chat = chatId(IDS.alice, IDS.bob);
const TOKEN = 'Bearer REPLACE_WITH_TOKEN';
const API_ID = 'a1b2c3d4e5';
const DOMAIN = `${API_ID}.execute-api.us-east-1.amazonaws.com`;
const PLAINTEXT = 'Hi Bob! Lunch at noon? 🍜';

const envelope = seal({
  plaintext: Buffer.from(PLAINTEXT, 'utf8'),
  senderId: IDS.alice,
  messageId: IDS.clientMessageId,
  createdAt: IDS.createdAt,
  recipients: [
    { userId: IDS.bob, publicKeyPem: bob.publicKeyPem },
    { userId: IDS.alice, publicKeyPem: alice.publicKeyPem },
  ],
  signWith: alice.privateKeyPem,
});

// docs/security.md: register-key / revoke-key sign
// keyOpInput = field("e2ee.key-op.v1") || field(operation) || field(userId) || field(keyId) || u64(createdAt)
// with RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt); field/u64 as in docs/envelope.md.
function field(s) {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}
function u64(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
function keyOpSignature(privateKeyPem, operation, userId, keyId, createdAt) {
  const input = Buffer.concat([field('e2ee.key-op.v1'), field(operation), field(userId), field(keyId), u64(createdAt)]);
  return crypto
    .sign('sha256', input, { key: privateKeyPem, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
    .toString('base64');
}

let seq = 0;
function requestId() {
  seq += 1;
  return `Vx${String(seq).padStart(2, '0')}aBcDeFgHiJkL=`;
}

/** An API Gateway HTTP API payload v2.0 event. */
function v2({ method, route, rawPath, pathParameters, query, body, auth = true }) {
  const rawQueryString = query ? new URLSearchParams(query).toString() : '';
  const bodyText = body === undefined ? undefined : JSON.stringify(body);
  const headers = {
    accept: 'application/json',
    ...(auth ? { authorization: TOKEN } : {}),
    ...(bodyText !== undefined
      ? { 'content-length': String(Buffer.byteLength(bodyText, 'utf8')), 'content-type': 'application/json' }
      : {}),
    host: DOMAIN,
    'user-agent': 'curl/8.11.1',
    'x-amzn-trace-id': 'Root=1-6745a1b8-3c5d7e9f1a2b3c4d5e6f7a8b',
    'x-forwarded-for': '203.0.113.24',
    'x-forwarded-port': '443',
    'x-forwarded-proto': 'https',
  };
  const ev = {
    version: '2.0',
    routeKey: `${method} ${route}`,
    rawPath,
    rawQueryString,
    headers,
  };
  if (query) ev.queryStringParameters = { ...query };
  ev.requestContext = {
    accountId: '123456789012',
    apiId: API_ID,
    domainName: DOMAIN,
    domainPrefix: API_ID,
    http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.24', userAgent: 'curl/8.11.1' },
    requestId: requestId(),
    routeKey: `${method} ${route}`,
    stage: '$default',
    time: '26/Nov/2026:08:30:00 +0000',
    timeEpoch: IDS.createdAt,
  };
  if (pathParameters) ev.pathParameters = pathParameters;
  if (bodyText !== undefined) ev.body = bodyText;
  ev.isBase64Encoded = false;
  return ev;
}

const events = {
  'auth-register': v2({
    method: 'POST', route: '/api/auth/register', rawPath: '/api/auth/register', auth: false,
    body: { username: 'alice', password: 'correct horse battery staple 42', displayName: 'Alice' },
  }),
  'auth-login': v2({
    method: 'POST', route: '/api/auth/login', rawPath: '/api/auth/login', auth: false,
    body: { username: 'alice', password: 'correct horse battery staple 42' },
  }),
  'lookup-user': v2({
    method: 'GET', route: '/api/users/{username}', rawPath: '/api/users/bob', pathParameters: { username: 'bob' },
  }),
  'generate-keys': v2({
    method: 'POST', route: '/api/crypto/generate-keys', rawPath: '/api/crypto/generate-keys', body: { bits: 2048 },
  }),
  'register-key': v2({
    method: 'POST', route: '/api/crypto/register-key', rawPath: '/api/crypto/register-key',
    // alice's first key: the proof of possession alone (no second factor yet).
    body: {
      publicKey: alice.publicKeyPem,
      createdAt: IDS.createdAt,
      proof: keyOpSignature(alice.privateKeyPem, 'register', IDS.alice, alice.keyId, IDS.createdAt),
    },
  }),
  'get-public-key': v2({
    method: 'GET', route: '/api/crypto/public-key/{userId}', rawPath: `/api/crypto/public-key/${IDS.bob}`,
    pathParameters: { userId: IDS.bob },
  }),
  'get-public-key-all': v2({
    method: 'GET', route: '/api/crypto/public-key/{userId}', rawPath: `/api/crypto/public-key/${IDS.alice}`,
    pathParameters: { userId: IDS.alice }, query: { all: 'true' },
  }),
  encrypt: v2({
    method: 'POST', route: '/api/crypto/encrypt', rawPath: '/api/crypto/encrypt',
    body: { receiverId: IDS.bob, message: PLAINTEXT, sign: false },
  }),
  decrypt: v2({
    method: 'POST', route: '/api/crypto/decrypt', rawPath: '/api/crypto/decrypt',
    body: { envelope, privateKey: bob.privateKeyPem },
  }),
  'send-message': v2({
    method: 'POST', route: '/api/messages/send', rawPath: '/api/messages/send',
    body: { receiverId: IDS.bob, envelope },
  }),
  'receive-messages': v2({
    method: 'GET', route: '/api/messages/receive/{userId}', rawPath: `/api/messages/receive/${IDS.bob}`,
    pathParameters: { userId: IDS.bob }, query: { limit: '20' },
  }),
  'mark-read': v2({
    method: 'PATCH', route: '/api/messages/mark-read/{messageId}', rawPath: `/api/messages/mark-read/${IDS.message}`,
    pathParameters: { messageId: IDS.message },
  }),
  'chat-history': v2({
    method: 'GET', route: '/api/messages/history/{chatId}', rawPath: `/api/messages/history/${IDS.chat}`,
    pathParameters: { chatId: IDS.chat }, query: { limit: '20', order: 'desc' },
  }),
};
// Last, so that the request ids of the events above stay as they were.
events['revoke-key'] = v2({
  method: 'POST', route: '/api/crypto/revoke-key', rawPath: '/api/crypto/revoke-key',
  // alice revokes her fixture key, authorized by that same (active) key.
  body: {
    keyId: alice.keyId,
    createdAt: IDS.createdAt,
    authorization: {
      keyId: alice.keyId,
      signature: keyOpSignature(alice.privateKeyPem, 'revoke', IDS.alice, alice.keyId, IDS.createdAt),
    },
  },
});

// The MLS device routes (docs/mls.md), last again so that the request ids above stay as they were. alice's
// devices `laptop` and `phone` have fixed Ed25519 MLS signature keys (seeds below), so their signatures are stable.
const DEVICE_TIME = 1764145653000; // createdAt / issuedAt of the device statements
const OTHER_USER = 'u_0123456789abcdef0123456789abcdef';
function deviceKey(name) {
  const seed = crypto.createHash('sha256').update(`e2ee sample device ${name}`).digest();
  const privateKey = crypto.createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const raw = Buffer.from(crypto.createPublicKey(privateKey).export({ format: 'jwk' }).x, 'base64url');
  return { privateKey, publicKey: raw };
}
const laptop = deviceKey('laptop');
const phone = deviceKey('phone');
// device session proof, by the device's MLS signature key (Ed25519):
// field("e2ee.device-session.v1") || field(userId) || field(deviceId) || u64(createdAt)
function deviceSessionSignature(device, userId, deviceId, createdAt) {
  const input = Buffer.concat([field('e2ee.device-session.v1'), field(userId), field(deviceId), u64(createdAt)]);
  return crypto.sign(null, input, device.privateKey).toString('base64');
}
// device certificate, by the identity key (RSA-PSS as for key operations), docs/mls.md:
// field("e2ee.device-cert.v1") || field(userId) || field(deviceId) || field(signatureKey) || field(issuerKeyId) || u64(createdAt)
function deviceCertificate(identityPrivateKeyPem, issuerKeyId, userId, deviceId, signatureKey, issuedAt) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(signatureKey.length);
  const input = Buffer.concat([
    field('e2ee.device-cert.v1'), field(userId), field(deviceId), len, signatureKey, field(issuerKeyId), u64(issuedAt),
  ]);
  const signature = crypto
    .sign('sha256', input, { key: identityPrivateKeyPem, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
    .toString('base64');
  return { issuerKeyId, issuedAt, signature };
}
// Not a real MLS key package (that needs an MLS implementation): base64 of "REPLACE_WITH_KEY_PACKAGE"; tests
// substitute a package generated with openmls for the calling device.
const KEY_PACKAGE_PLACEHOLDER = Buffer.from('REPLACE_WITH_KEY_PACKAGE', 'utf8').toString('base64');

events['register-device'] = v2({
  method: 'POST', route: '/api/devices', rawPath: '/api/devices',
  // alice's laptop, without a certificate: pending until an active device approves it.
  body: { deviceId: 'laptop', displayName: 'Laptop', signatureKey: laptop.publicKey.toString('base64') },
});
events['device-session'] = v2({
  method: 'POST', route: '/api/devices/session', rawPath: '/api/devices/session',
  body: {
    deviceId: 'laptop',
    createdAt: DEVICE_TIME,
    signature: deviceSessionSignature(laptop, IDS.alice, 'laptop', DEVICE_TIME),
  },
});
events['approve-device'] = v2({
  method: 'POST', route: '/api/devices/approve', rawPath: '/api/devices/approve',
  // alice's phone, certified by her fixture identity key.
  body: {
    deviceId: 'phone',
    certificate: deviceCertificate(alice.privateKeyPem, alice.keyId, IDS.alice, 'phone', phone.publicKey, DEVICE_TIME),
  },
});
// docs/security.md: a device revocation is authorized by the identity key (or the password), signed over
// field("e2ee.device-revoke.v1") || field(userId) || field(deviceId) || u64(createdAt).
function deviceRevocationSignature(identityPrivateKeyPem, userId, deviceId, createdAt) {
  const input = Buffer.concat([field('e2ee.device-revoke.v1'), field(userId), field(deviceId), u64(createdAt)]);
  return crypto
    .sign('sha256', input, { key: identityPrivateKeyPem, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
    .toString('base64');
}
events['revoke-device'] = v2({
  method: 'POST', route: '/api/devices/revoke', rawPath: '/api/devices/revoke',
  // alice revokes her phone, authorized by her fixture identity key.
  body: {
    deviceId: 'phone',
    createdAt: DEVICE_TIME,
    authorization: {
      keyId: alice.keyId,
      signature: deviceRevocationSignature(alice.privateKeyPem, IDS.alice, 'phone', DEVICE_TIME),
    },
  },
});
events['list-devices'] = v2({
  method: 'GET', route: '/api/devices/{userId}', rawPath: `/api/devices/${OTHER_USER}`,
  pathParameters: { userId: OTHER_USER },
});
events['upload-key-packages'] = v2({
  method: 'POST', route: '/api/key-packages', rawPath: '/api/key-packages',
  body: { keyPackages: [KEY_PACKAGE_PLACEHOLDER] },
});
events['key-package-supply'] = v2({
  method: 'GET', route: '/api/key-packages/supply', rawPath: '/api/key-packages/supply',
});
events['claim-key-packages'] = v2({
  method: 'POST', route: '/api/key-packages/claim', rawPath: '/api/key-packages/claim',
  body: { userId: OTHER_USER },
});

// The MLS group routes (docs/mls.md), last again so that the request ids above stay as they were. All need a
// device token. The MLS messages are not real ones (that needs an MLS client): base64 of "REPLACE_WITH_<WHAT>";
// tests substitute messages generated with openmls for the calling device and the group's current epoch.
const GROUP_ID = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const placeholder = (what) => Buffer.from(`REPLACE_WITH_${what}`, 'utf8').toString('base64');
const GROUP_INFO_PLACEHOLDER = placeholder('GROUP_INFO');
const RATCHET_TREE_PLACEHOLDER = placeholder('RATCHET_TREE');
const COMMIT_PLACEHOLDER = placeholder('COMMIT');
const MESSAGE_PLACEHOLDER = placeholder('MESSAGE');

events['create-group'] = v2({
  method: 'POST', route: '/api/groups', rawPath: '/api/groups',
  body: { groupInfo: GROUP_INFO_PLACEHOLDER, ratchetTree: RATCHET_TREE_PLACEHOLDER },
});
events['get-group'] = v2({
  method: 'GET', route: '/api/groups/{groupId}', rawPath: `/api/groups/${GROUP_ID}`,
  pathParameters: { groupId: GROUP_ID },
});
events['post-commit'] = v2({
  method: 'POST', route: '/api/groups/{groupId}/commits', rawPath: `/api/groups/${GROUP_ID}/commits`,
  pathParameters: { groupId: GROUP_ID },
  // No `welcome`: a commit that adds no members (an update or a removal).
  body: { commit: COMMIT_PLACEHOLDER, groupInfo: GROUP_INFO_PLACEHOLDER },
});
events['post-group-message'] = v2({
  method: 'POST', route: '/api/groups/{groupId}/messages', rawPath: `/api/groups/${GROUP_ID}/messages`,
  pathParameters: { groupId: GROUP_ID },
  body: { clientMessageId: 'msg-1', message: MESSAGE_PLACEHOLDER },
});
events['read-group-log'] = v2({
  method: 'GET', route: '/api/groups/{groupId}/log', rawPath: `/api/groups/${GROUP_ID}/log`,
  pathParameters: { groupId: GROUP_ID }, query: { limit: '50' },
});

// The calling device's groups and Welcome inbox (docs/mls.md), last again so that the request ids above stay as
// they were. Device token too; no group id in the path.
events['list-groups'] = v2({
  method: 'GET', route: '/api/groups', rawPath: '/api/groups', query: { limit: '50' },
});
events['list-welcomes'] = v2({
  method: 'GET', route: '/api/welcomes', rawPath: '/api/welcomes',
});
events['ack-welcome'] = v2({
  method: 'POST', route: '/api/welcomes/ack', rawPath: '/api/welcomes/ack',
  // The Welcome of the commit that started epoch 1 of the group above.
  body: { groupId: GROUP_ID, epoch: 1 },
});

// One API Gateway REST API (payload v1.0) event: GET /api/messages/receive/{userId} through a "Prod" stage.
const v1Path = `/api/messages/receive/${IDS.bob}`;
const v1Headers = {
  Accept: 'application/json',
  Authorization: TOKEN,
  Host: DOMAIN,
  'User-Agent': 'curl/8.11.1',
  'X-Amzn-Trace-Id': 'Root=1-6745a1b8-4d5e6f7a8b9c0d1e2f3a4b5c',
  'X-Forwarded-For': '203.0.113.24',
  'X-Forwarded-Port': '443',
  'X-Forwarded-Proto': 'https',
};
events['rest-v1-receive-messages'] = {
  resource: '/api/messages/receive/{userId}',
  path: v1Path,
  httpMethod: 'GET',
  headers: v1Headers,
  multiValueHeaders: Object.fromEntries(Object.entries(v1Headers).map(([k, v]) => [k, [v]])),
  queryStringParameters: { limit: '20' },
  multiValueQueryStringParameters: { limit: ['20'] },
  pathParameters: { userId: IDS.bob },
  stageVariables: null,
  requestContext: {
    accountId: '123456789012',
    apiId: API_ID,
    domainName: DOMAIN,
    domainPrefix: API_ID,
    extendedRequestId: 'Vx99aBcDeFgHiJkL=',
    httpMethod: 'GET',
    identity: { sourceIp: '203.0.113.24', userAgent: 'curl/8.11.1' },
    path: `/Prod${v1Path}`,
    protocol: 'HTTP/1.1',
    requestId: '5b6c7d8e-9f01-4a23-b456-789abcdef012',
    requestTime: '26/Nov/2026:08:30:00 +0000',
    requestTimeEpoch: IDS.createdAt,
    resourceId: 'x1y2z3',
    resourcePath: '/api/messages/receive/{userId}',
    stage: 'Prod',
  },
  body: null,
  isBase64Encoded: false,
};

const dir = path.join(root, 'events');
fs.mkdirSync(dir, { recursive: true });
for (const [name, ev] of Object.entries(events)) {
  fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(ev, null, 2)}\n`);
}
process.stdout.write(`wrote ${Object.keys(events).length} events to events/ (chat id ${IDS.chat})\n`);
