// The MLS building blocks on ts-mls 1.6.4, configured as the Rust client configures openmls (clients/sdk/src/mls.rs):
// ciphersuite 0x0001 only, 2 past epochs kept, key packages with a lifetime the server accepts, basic credentials
// `userId/deviceId`, and the base64 `MLSMessage` codec of the routes. Interop notes (/work/shared/NOTES.md,
// "openmls 0.9 ↔ ts-mls 1.6 interop") are applied where they matter and said so.

import { ed25519 } from "@noble/curves/ed25519.js";
import {
  type CiphersuiteImpl,
  type ClientConfig,
  type ClientState,
  type Credential,
  type GroupState,
  type KeyPackage,
  type LeafNode,
  type MLSMessage,
  type PrivateKeyPackage,
  type RatchetTree,
  decodeGroupState,
  decodeMlsMessage,
  defaultAuthenticationService,
  defaultCapabilities,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from "ts-mls";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { fromBase64Strict, fromUtf8, toBase64, toHex, utf8 } from "../bytes.js";
import { checkId } from "../ids.js";
import { MlsError, describe } from "./errors.js";
import { isDeviceId } from "./statements.js";

export const CIPHERSUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" as const;

/** Application messages of this many epochs before the current one still decrypt (the server accepts posts for
 * the current epoch and the 2 before it); older epochs' secrets are dropped from the state. */
export const MAX_PAST_EPOCHS = 2;

/** RFC 9420 §17.3 `last_resort` key package extension. Its leaf must list it in its capabilities, or openmls (and so
 * the server) refuses the package. */
export const LAST_RESORT_EXTENSION = 0x000a;

/** The server accepts lifetimes of at most 12 weeks + 1 hour (openmls' default: now − 1 h … now + 12 weeks). ts-mls's
 * default lifetime never ends, which the server would refuse. */
export const KEY_PACKAGE_LIFETIME_SECONDS = 12 * 7 * 24 * 3600;
const LIFETIME_MARGIN_SECONDS = 3600;

let suitePromise: Promise<CiphersuiteImpl> | undefined;

/** The ciphersuite implementation (WebCrypto where it has the algorithms; ts-mls falls back to @noble otherwise). */
export function suite(): Promise<CiphersuiteImpl> {
  suitePromise ??= getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE));
  return suitePromise;
}

/** ts-mls's defaults except the number of past epochs kept (openmls: `max_past_epochs(2)`). The authentication
 * service accepts every credential: the device certificates are checked by this SDK before anything is merged. */
export const CLIENT_CONFIG: ClientConfig = {
  keyRetentionConfig: { ...defaultKeyRetentionConfig, retainKeysForEpochs: MAX_PAST_EPOCHS },
  lifetimeConfig: defaultLifetimeConfig,
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
  authService: defaultAuthenticationService,
};

// ---------------------------------------------------------------------------------------------------------------
// Device identity: keys and credentials
// ---------------------------------------------------------------------------------------------------------------

/** A device's Ed25519 signature key pair: 32-byte seed and 32-byte public key. */
export interface SignatureKeys {
  signKey: Uint8Array;
  publicKey: Uint8Array;
}

/** A fresh Ed25519 key pair as raw bytes. Generated with @noble/curves so the private key is the 32-byte seed,
 * which both of ts-mls's signature implementations accept (its WebCrypto keygen would give PKCS#8, which its noble
 * fallback cannot read). */
export function newSignatureKeys(): SignatureKeys {
  const signKey = ed25519.utils.randomSecretKey();
  return { signKey, publicKey: ed25519.getPublicKey(signKey) };
}

/** A raw Ed25519 signature (the device-session proof is not an MLS SignWithLabel). */
export function signRaw(keys: SignatureKeys, data: Uint8Array): Uint8Array {
  return ed25519.sign(data, keys.signKey);
}

export interface DeviceIdentity {
  userId: string;
  deviceId: string;
}

export function sameDevice(a: DeviceIdentity, b: DeviceIdentity): boolean {
  return a.userId === b.userId && a.deviceId === b.deviceId;
}

export function deviceLabel(d: DeviceIdentity): string {
  return `${d.userId}/${d.deviceId}`;
}

/** The device's credential: a BasicCredential whose identity is the UTF-8 of `userId "/" deviceId`. */
export function credentialOf(d: DeviceIdentity): Credential {
  return { credentialType: "basic", identity: utf8(deviceLabel(d)) };
}

/** The device a credential names, or null (not basic, not UTF-8, or not a valid `userId/deviceId`). Device ids
 * have no `/`, so the split is at the last one. */
export function identityOf(c: Credential): DeviceIdentity | null {
  if (c.credentialType !== "basic") return null;
  let s: string;
  try {
    s = fromUtf8(c.identity);
  } catch {
    return null;
  }
  const slash = s.lastIndexOf("/");
  const userId = s.slice(0, slash);
  const deviceId = s.slice(slash + 1);
  if (slash < 0 || checkId(userId) !== null || !isDeviceId(deviceId)) return null;
  return { userId, deviceId };
}

// ---------------------------------------------------------------------------------------------------------------
// Key packages
// ---------------------------------------------------------------------------------------------------------------

export interface NewKeyPackage {
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
  /** Hex KeyPackageRef: how a Welcome names the package it is for. */
  ref: string;
  /** Base64 `MLSMessage`, as uploaded. */
  encoded: string;
  lastResort: boolean;
  notAfter: number;
}

/** A key package of this device, valid from an hour ago for 12 weeks; a last-resort one carries the extension and
 * lists it in its leaf's capabilities. */
export async function newKeyPackage(keys: SignatureKeys, device: DeviceIdentity, lastResort: boolean, nowMs = Date.now()): Promise<NewKeyPackage> {
  const cs = await suite();
  const now = Math.floor(nowMs / 1000);
  const lifetime = { notBefore: BigInt(now - LIFETIME_MARGIN_SECONDS), notAfter: BigInt(now + KEY_PACKAGE_LIFETIME_SECONDS) };
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
    notAfter: now + KEY_PACKAGE_LIFETIME_SECONDS,
  };
}

export async function keyPackageRef(kp: KeyPackage): Promise<string> {
  return toHex(await makeKeyPackageRef(kp, (await suite()).hash));
}

// ---------------------------------------------------------------------------------------------------------------
// Codec: base64 MLSMessage, group state
// ---------------------------------------------------------------------------------------------------------------

export function encodeMessage(m: MLSMessage): string {
  return toBase64(encodeMlsMessage(m));
}

/** A base64 `MLSMessage` decoded exactly (no trailing bytes), or null. */
export function decodeMessage(b64: string): MLSMessage | null {
  const bytes = fromBase64Strict(b64);
  if (!bytes) return null;
  try {
    const r = decodeMlsMessage(bytes, 0);
    return r && r[1] === bytes.length ? r[0] : null;
  } catch {
    return null;
  }
}

/** A base64 MLSMessage of the given wire format, or an MlsError("invalid_response") naming `what`. */
export function expectMessage<W extends MLSMessage["wireformat"]>(b64: string, wireformat: W, what: string): Extract<MLSMessage, { wireformat: W }> {
  const m = decodeMessage(b64);
  if (!m || m.wireformat !== wireformat) throw new MlsError("invalid_response", `${what} is not a ${wireformat} MLSMessage`);
  return m as Extract<MLSMessage, { wireformat: W }>;
}

/** The group state as ts-mls's own TLS encoding. Structured clone cannot store a ClientState (its clientConfig holds
 * functions), and the encoding has no prototype or Map subtleties; the config is re-attached on decode. */
export function encodeState(state: GroupState): Uint8Array {
  return encodeGroupState(state);
}

export function decodeState(bytes: Uint8Array): ClientState {
  let r: ReturnType<typeof decodeGroupState>;
  try {
    r = decodeGroupState(bytes, 0);
  } catch (e) {
    throw new MlsError("invalid_state", `the stored group state cannot be decoded (${describe(e)})`);
  }
  if (!r || r[1] !== bytes.length) throw new MlsError("invalid_state", "the stored group state cannot be decoded");
  return { ...r[0], clientConfig: CLIENT_CONFIG };
}

// ---------------------------------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------------------------------

export interface Leaf extends DeviceIdentity {
  leafIndex: number;
  signatureKey: Uint8Array;
}

/** The leaf at `leafIndex` of a ratchet tree, with the device its credential names (null: blank or unnamed). */
export function leafAt(tree: RatchetTree, leafIndex: number): Leaf | null {
  const node = tree[leafIndex * 2];
  if (node?.nodeType !== "leaf") return null;
  return leafOf(node.leaf, leafIndex);
}

function leafOf(leaf: LeafNode, leafIndex: number): Leaf | null {
  const id = identityOf(leaf.credential);
  return id ? { ...id, leafIndex, signatureKey: leaf.signaturePublicKey } : null;
}

/** Every leaf of the group whose credential names a device, in tree order. */
export function leaves(state: GroupState): Leaf[] {
  const out: Leaf[] = [];
  for (let i = 0; i * 2 < state.ratchetTree.length; i++) {
    const l = leafAt(state.ratchetTree, i);
    if (l) out.push(l);
  }
  return out;
}

export function groupIdHex(state: GroupState): string {
  return toHex(state.groupContext.groupId);
}

export function epochOf(state: GroupState): number {
  return Number(state.groupContext.epoch);
}
