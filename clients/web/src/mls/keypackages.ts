// Key packages: this device's supply on the server (50 one-time + 1 last-resort, topped up below 10), the check
// every claimed package must pass before a commit may add it (the ghost-device refusal), and finding the package a
// Welcome was made for.

import { type KeyPackage, type PrivateKeyPackage, type Welcome } from "ts-mls";
import { verifyKeyPackage } from "ts-mls/keyPackage.js";
import { verifyLeafNodeSignatureKeyPackage } from "ts-mls/leafNode.js";
import { toHex } from "../bytes.js";
import { type KeyPackageSupply } from "./api.js";
import { type DeviceContext, usernameOf } from "./context.js";
import { MlsError } from "./errors.js";
import { type StoredKeyPackage } from "./store.js";
import { CIPHERSUITE, type DeviceIdentity, deviceLabel, expectMessage, identityOf, newKeyPackage, sameDevice, suite } from "./suite.js";

/** One-time key packages kept on the server; topped up when fewer than KEY_PACKAGE_LOW are left. */
export const KEY_PACKAGE_BATCH = 50;
export const KEY_PACKAGE_LOW = 10;

/**
 * Uploads one-time packages up to KEY_PACKAGE_BATCH when fewer than KEY_PACKAGE_LOW are left, and a last-resort
 * package when the server has none (or only an expired one). The private halves are stored before the upload, and
 * those of expired packages deleted. Returns the supply after.
 */
export async function topUpKeyPackages(ctx: DeviceContext): Promise<KeyPackageSupply> {
  const supply = await ctx.api.keyPackageSupply();
  const wanted: boolean[] = [];
  if (supply.oneTime < KEY_PACKAGE_LOW) for (let i = supply.oneTime; i < KEY_PACKAGE_BATCH; i++) wanted.push(false);
  if (!supply.lastResort) wanted.push(true);
  if (wanted.length === 0) return supply;
  const fresh = [];
  for (const lastResort of wanted) fresh.push(await newKeyPackage(ctx.device.keys, ctx.me, lastResort));
  await ctx.store.pruneKeyPackages(Math.floor(Date.now() / 1000));
  await ctx.store.putKeyPackages(
    fresh.map((k) => ({
      ref: k.ref,
      encoded: k.encoded,
      initPrivateKey: k.privatePackage.initPrivateKey,
      hpkePrivateKey: k.privatePackage.hpkePrivateKey,
      lastResort: k.lastResort,
      notAfter: k.notAfter,
    })),
  );
  return ctx.api.uploadKeyPackages(fresh.map((k) => k.encoded));
}

/**
 * A claimed key package, if it is a valid package of `device` (signatures, ciphersuite, lifetime, credential) whose
 * signature key is that of a device certified by a key this device trusts. Anything else — a ghost device the
 * server invented, or junk — is MlsError("untrusted_device"): the caller commits nothing.
 */
export async function checkedKeyPackage(ctx: DeviceContext, device: DeviceIdentity, encoded: string): Promise<KeyPackage> {
  const untrusted = (why: string) => new MlsError("untrusted_device", `the key package offered for ${deviceLabel(device)}: ${why}`, device);
  let kp: KeyPackage;
  try {
    kp = expectMessage(encoded, "mls_key_package", "the key package").keyPackage;
  } catch {
    throw untrusted("not a key package");
  }
  const cs = await suite();
  const now = BigInt(Math.floor(Date.now() / 1000));
  const { lifetime } = kp.leafNode;
  if (kp.version !== "mls10" || kp.cipherSuite !== CIPHERSUITE) throw untrusted("another protocol version or ciphersuite");
  if (lifetime.notBefore > now || lifetime.notAfter < now) throw untrusted("outside its lifetime");
  if (!(await verifyKeyPackage(kp, cs.signature)) || !(await verifyLeafNodeSignatureKeyPackage(kp.leafNode, cs.signature))) {
    throw untrusted("its signature does not verify");
  }
  const named = identityOf(kp.leafNode.credential);
  if (!named || !sameDevice(named, device)) throw untrusted("its credential names another device");
  if (!(await ctx.directory.isCertified(device.userId, device.deviceId, kp.leafNode.signaturePublicKey))) {
    const who = (await usernameOf(ctx, device.userId)) ?? device.userId;
    throw new MlsError(
      "untrusted_device",
      `the server offered a key package for ${deviceLabel(device)}, a device ${who} never certified with a key this device trusts; nothing was changed`,
      device,
    );
  }
  return kp;
}

/** The stored key package a Welcome is addressed to, with its private halves; MlsError("unknown_key_package") if none. */
export async function keyPackageFor(ctx: DeviceContext, welcome: Welcome): Promise<{ stored: StoredKeyPackage; publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }> {
  for (const s of welcome.secrets) {
    const stored = await ctx.store.getKeyPackage(toHex(s.newMember));
    if (!stored) continue;
    return {
      stored,
      publicPackage: expectMessage(stored.encoded, "mls_key_package", "a stored key package").keyPackage,
      privatePackage: { initPrivateKey: stored.initPrivateKey, hpkePrivateKey: stored.hpkePrivateKey, signaturePrivateKey: ctx.device.keys.signKey },
    };
  }
  throw new MlsError("unknown_key_package", "a Welcome for none of this device's key packages");
}
