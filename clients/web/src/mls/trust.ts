// Which devices this device trusts (docs/mls.md, "Trust"; clients/sdk/src/device/mls_devices.rs): a device is trusted
// only under a certificate that verifies with an identity key THIS device trusts for the device's user — its own
// identity key for its own user, the key pinned on first use (or accepted since) for anyone else, exactly the TOFU
// pins of the 1:1 chat (src/pins.ts). A certificate by a key the server merely lists (a server-invented one) does
// not verify, so the server cannot slip a device of its own into a group.

import { asBytes, bytesEqual, fromBase64Strict } from "../bytes.js";
import { type PublicKeyInfo } from "../keys.js";
import { type Session } from "../session.js";
import { type DeviceView, type MlsApi } from "./api.js";
import { deviceCertInput } from "./statements.js";

/** A device as this device trusts it: certified by its user's trusted identity key. */
export interface CertifiedDevice {
  userId: string;
  deviceId: string;
  signatureKey: Uint8Array;
}

/** Where the certified devices of a user come from (the pinned directory below; a fake one in tests). */
export interface DeviceDirectory {
  /** The user's active devices whose certificates verify under an identity key this device trusts for the user. */
  certified(userId: string): Promise<CertifiedDevice[]>;
}

interface IdentityKey {
  key: PublicKeyInfo;
  revoked: boolean;
}

/** The pinned directory: the server's device list, each certificate checked against the session's own key or the
 * user's pinned keys (pinning the user's active key on first use, as a first message would). */
export class PinnedDirectory implements DeviceDirectory {
  constructor(
    readonly session: Session,
    readonly api: MlsApi,
    /** Usernames checked by a lookup by name (user id -> username), bound into a pin made on first use. */
    readonly names: ReadonlyMap<string, string> = new Map(),
  ) {}

  async certified(userId: string): Promise<CertifiedDevice[]> {
    const { keys, active } = await this.#identityKeys(userId);
    const trusted = await this.#trustedKeyIds(userId, keys, active);
    const listed = await this.api.listDevices(userId);
    const out: CertifiedDevice[] = [];
    for (const d of listed.devices) {
      if (d.status !== "active" || d.userId !== userId) continue;
      const c = await verifyCertificate(d, (issuer) => (trusted.has(issuer) ? keys.get(issuer) : undefined));
      if (c) out.push(c);
    }
    return out;
  }

  /** The user's identity keys as listed now (a revocation counts at once), with their revocation state. */
  async #identityKeys(userId: string): Promise<{ keys: Map<string, IdentityKey>; active: string | null }> {
    const listed = await this.session.listedKeys(userId, { refresh: true });
    const keys = new Map<string, IdentityKey>();
    for (const [id, { key, info }] of listed.keys) keys.set(id, { key, revoked: info.status === "revoked" || info.revokedAt !== undefined });
    return { keys, active: listed.active };
  }

  /**
   * Own user: the identity keys of this device's keyring (older ones too: devices certified before a rotation
   * stay trusted until that key is revoked). Anyone else, and the own user on a device without the identity key
   * (a linked device): the pinned and accepted keys, pinned now on first use.
   */
  async #trustedKeyIds(userId: string, keys: Map<string, IdentityKey>, active: string | null): Promise<Set<string>> {
    const own = userId === this.session.userId ? this.session.keyring.entries().map((e) => e.keyId) : [];
    if (own.length > 0) return new Set(own);
    let pin = await this.session.pins.get(userId);
    if (!pin && active) {
      const known = [...keys.entries()].filter(([id, k]) => !k.revoked && id !== active).map(([id]) => id);
      // Without a lookup by name, the username is bound on the first one (Session.lookup fills an empty one in).
      pin = { userId, username: this.names.get(userId) ?? "", keyId: active, knownKeyIds: known, firstSeen: Date.now() };
      await this.session.pins.put(pin);
    }
    return new Set(pin ? [pin.keyId, ...pin.knownKeyIds] : []);
  }
}

/** The device if its certificate verifies under the unrevoked identity key `issuerKey` returns for its issuer. */
async function verifyCertificate(
  d: DeviceView,
  issuerKey: (keyId: string) => IdentityKey | undefined,
): Promise<CertifiedDevice | null> {
  const cert = d.certificate;
  if (!cert) return null;
  const signatureKey = fromBase64Strict(d.signatureKey);
  const signature = fromBase64Strict(cert.signature);
  const issuer = issuerKey(cert.issuerKeyId);
  if (!signatureKey || !signature || !issuer || issuer.revoked) return null;
  let input: Uint8Array;
  try {
    input = deviceCertInput({ userId: d.userId, deviceId: d.deviceId, signatureKey, issuerKeyId: cert.issuerKeyId, createdAt: cert.issuedAt });
  } catch {
    return null; // a malformed statement certifies nothing
  }
  const ok = await crypto.subtle.verify({ name: "RSA-PSS", saltLength: 32 }, issuer.key.verifyKey, signature, asBytes(input));
  return ok ? { userId: d.userId, deviceId: d.deviceId, signatureKey } : null;
}

/** A per-operation cache in front of a directory: each user's devices are fetched once per operation. */
export class DirectoryCache {
  readonly #base: DeviceDirectory;
  readonly #cache = new Map<string, Promise<CertifiedDevice[]>>();
  constructor(base: DeviceDirectory) {
    this.#base = base;
  }
  certified(userId: string): Promise<CertifiedDevice[]> {
    let p = this.#cache.get(userId);
    if (!p) {
      p = this.#base.certified(userId);
      this.#cache.set(userId, p);
      // A failed fetch is not remembered; the caller still gets the rejection through `p`.
      p.catch(() => this.#cache.delete(userId));
    }
    return p;
  }
  /** Whether `(userId, deviceId, signatureKey)` is a certified device. */
  async isCertified(userId: string, deviceId: string, signatureKey: Uint8Array): Promise<boolean> {
    return (await this.certified(userId)).some((c) => c.deviceId === deviceId && bytesEqual(c.signatureKey, signatureKey));
  }
}
