// A client of the second MLS stack, ts-mls 1.6.4 (LukaJCB/ts-mls), configured as our clients configure openmls
// (clients/core): ciphersuite 0x0001 only, 2 past epochs kept, key packages with a lifetime the server accepts,
// basic credentials `userId/deviceId`, and the base64 `MLSMessage` codec of the routes. Independent of our code:
// it is what proves that our clients interoperate with another implementation (interop.test.mjs), and the MLS codec
// of the web SDK's test fakes. Interop notes: /work/shared/NOTES.md-style findings are in docs/mls.md.

import { ed25519 } from "@noble/curves/ed25519.js";
import {
  decodeMlsMessage,
  defaultAuthenticationService,
  defaultCapabilities,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from "ts-mls";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";

export * from "ts-mls";
export { ed25519 };

export const CIPHERSUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
/** RFC 9420 §17.3 `last_resort` key package extension (listed in the leaf's capabilities, as openmls requires). */
export const LAST_RESORT_EXTENSION = 0x000a;
/** The server accepts lifetimes of at most 12 weeks + 1 hour (openmls' default: now − 1 h … now + 12 weeks). */
export const KEY_PACKAGE_LIFETIME_SECONDS = 12 * 7 * 24 * 3600;

let suitePromise;
/** The ciphersuite implementation (WebCrypto where it has the algorithms, @noble otherwise). */
export function suite() {
  suitePromise ??= getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE));
  return suitePromise;
}

/** ts-mls's defaults except 2 past epochs kept (openmls: `max_past_epochs(2)`); certificates are the caller's job. */
export const CLIENT_CONFIG = {
  keyRetentionConfig: { ...defaultKeyRetentionConfig, retainKeysForEpochs: 2 },
  lifetimeConfig: defaultLifetimeConfig,
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
  authService: defaultAuthenticationService,
};

// (No Buffer: this file also runs bundled in Chromium, bench/mls-browser.mjs.)
export const toBase64 = (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
export const fromBase64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
export const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const utf8 = (s) => new TextEncoder().encode(s);

/** A fresh Ed25519 key pair: 32-byte seed and public key. */
export function newSignatureKeys() {
  const signKey = ed25519.utils.randomSecretKey();
  return { signKey, publicKey: ed25519.getPublicKey(signKey) };
}

/** A raw Ed25519 signature (the device-session proof is not an MLS SignWithLabel). */
export function signRaw(keys, data) {
  return ed25519.sign(data, keys.signKey);
}

/** The device's credential: a BasicCredential whose identity is the UTF-8 of `userId "/" deviceId`. */
export function credentialOf(device) {
  return { credentialType: "basic", identity: utf8(`${device.userId}/${device.deviceId}`) };
}

/** The device a credential names (split at the last `/`), or null. */
export function identityOf(credential) {
  if (credential.credentialType !== "basic") return null;
  const s = new TextDecoder("utf-8", { fatal: true }).decode(credential.identity);
  const slash = s.lastIndexOf("/");
  return slash < 0 ? null : { userId: s.slice(0, slash), deviceId: s.slice(slash + 1) };
}

/** A key package valid from an hour ago for 12 weeks; a last-resort one carries the extension. */
export async function newKeyPackage(keys, device, lastResort = false, nowMs = Date.now()) {
  const cs = await suite();
  const now = Math.floor(nowMs / 1000);
  const lifetime = { notBefore: BigInt(now - 3600), notAfter: BigInt(now + KEY_PACKAGE_LIFETIME_SECONDS) };
  const capabilities = defaultCapabilities();
  if (lastResort) capabilities.extensions = [...capabilities.extensions, LAST_RESORT_EXTENSION];
  const extensions = lastResort ? [{ extensionType: LAST_RESORT_EXTENSION, extensionData: new Uint8Array() }] : [];
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(credentialOf(device), capabilities, lifetime, extensions, keys, cs);
  return {
    publicPackage,
    privatePackage,
    ref: await keyPackageRef(publicPackage),
    encoded: encodeMessage({ wireformat: "mls_key_package", version: "mls10", keyPackage: publicPackage }),
    lastResort,
  };
}

/** Hex KeyPackageRef: how a Welcome names the package it is for. */
export async function keyPackageRef(kp) {
  return toHex(await makeKeyPackageRef(kp, (await suite()).hash));
}

export function encodeMessage(m) {
  return toBase64(encodeMlsMessage(m));
}

/** A base64 `MLSMessage` decoded exactly (no trailing bytes), or null. */
export function decodeMessage(b64) {
  const bytes = fromBase64(b64);
  try {
    const r = decodeMlsMessage(bytes, 0);
    return r && r[1] === bytes.length ? r[0] : null;
  } catch {
    return null;
  }
}

/** Every leaf of a ts-mls group state that names a device, in tree order. */
export function leaves(state) {
  const out = [];
  for (let i = 0; i * 2 < state.ratchetTree.length; i++) {
    const node = state.ratchetTree[i * 2];
    if (node?.nodeType !== "leaf") continue;
    const id = identityOf(node.leaf.credential);
    if (id) out.push({ ...id, leafIndex: i, signatureKey: node.leaf.signaturePublicKey });
  }
  return out;
}

/** The content of our application messages (docs/mls.md, "Application messages"). */
export const textContent = (text) => utf8(JSON.stringify({ type: "text", text }));
export const decodeContent = (bytes) => JSON.parse(new TextDecoder().decode(bytes));
