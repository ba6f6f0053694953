// Which devices this device trusts (docs/mls.md, "Trust"). The decisions are the client core's
// (e2ee_client_core::devices::check_device, through the wasm `Trust`): a device is trusted only under a certificate
// that verifies with an identity key of its user that this device trusts and that the user's key listing does not
// list as revoked. Which keys those are comes from this device's own records, the same pins as the 1:1 chat
// (src/pins.ts): its own identity keys (the keyring) for its own user — on a linked device without them, the key its
// approver's link proof names —, else the user's pinned and accepted keys, the active key pinned on first use. A certificate by a key the server merely lists (a server-invented one) does
// not verify, so the server cannot slip a device of its own into a group.

import { ApiError, type PublicKeyResponse } from "../api.js";
import { type Session } from "../session.js";
import { type DeviceView, type MlsApi } from "./api.js";
import { usernameOf } from "./context.js";
import { Trust, core, coreJson } from "./core.js";
import { MlsError } from "./errors.js";

/** The core's decisions on a user's device listing. */
export interface DeviceDecisions {
  /** Every device the server lists for the user (pending and active). */
  listed: DeviceView[];
  /** The ids of the devices this device trusts. */
  trusted: Set<string>;
  /** Why each other device is not trusted (`untrusted_issuer`, `bad_signature`, `not_active`, …). */
  refused: Record<string, string>;
}

/**
 * The trust of one operation: each user's key and device listings fetched once, checked by the core, and the
 * core's `Trust` (which readRow, finishCommit, stageAdd and finishWelcome consult) filled with the result. Freed
 * when the operation ends.
 */
export class TrustSession {
  readonly core = new Trust();
  readonly #users = new Map<string, Promise<DeviceDecisions>>();
  readonly #named = new Set<string>();

  /** Why this device trusts none of its own user's devices (no identity key here and no verified link), if so. */
  ownKeyUnverified: string | null = null;

  constructor(
    readonly session: Session,
    readonly api: MlsApi,
    readonly names: ReadonlyMap<string, string>,
    /** The identity key this device's link proof names (the core's `linkedOwnKey` over this device's entry in
     * the listing and its user's keys), or the refusal: for its own user when it holds no identity key. */
    readonly linkedOwnKey: (devices: string, keyListing: string) => string = () => {
      throw new MlsError("untrusted_device", "this device holds no link secret");
    },
  ) {}

  free(): void {
    this.core.free();
  }

  /** The core's decisions on the user's devices (fetched and checked once per operation). */
  devices(userId: string): Promise<DeviceDecisions> {
    let p = this.#users.get(userId);
    if (!p) {
      p = this.#check(userId);
      this.#users.set(userId, p);
      // A failed fetch is not remembered; the caller still gets the rejection through `p`.
      p.catch(() => this.#users.delete(userId));
    }
    return p;
  }

  /** Fetches and checks the devices of each user not checked yet in this operation. */
  async ensure(userIds: Iterable<string>): Promise<void> {
    for (const u of new Set(userIds)) await this.devices(u);
  }

  /** Gives the core the names to show for these users (pinned or looked up), once per operation. */
  async name(userIds: Iterable<string>): Promise<void> {
    for (const u of new Set(userIds)) {
      if (this.#named.has(u)) continue;
      this.#named.add(u);
      const name = await usernameOf(this, u);
      if (name) this.core.setName(u, name);
    }
  }

  async #check(userId: string): Promise<DeviceDecisions> {
    let listing: PublicKeyResponse | null = null;
    try {
      listing = await this.session.api.publicKey(userId, true);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e; // no key: no device of the user is trusted
    }
    if (listing) core(() => this.core.observeKeys(userId, "", JSON.stringify(listing), Date.now()));
    const listed = (await this.api.listDevices(userId)).devices;
    const keys = await this.#trustedKeyIds(userId, listing, listed);
    core(() => this.core.trustKeys(userId, JSON.stringify(keys.map((keyId) => ({ keyId })))));
    await this.name([userId]);
    const decided = coreJson<{ trusted: string[]; refused: Record<string, string> }>(() => this.core.checkDevices(userId, JSON.stringify(listed)));
    return { listed, trusted: new Set(decided.trusted), refused: decided.refused };
  }

  /**
   * Own user: the identity keys of this device's keyring (older ones too: devices certified before a rotation
   * stay trusted until that key is revoked); on a device without the identity key (a linked device), the key
   * pinned, else the key its approver's link proof names, pinned now (review N10: never the server's word alone).
   * Anyone else: the pinned and accepted keys, the active key (as the core read it from the listing just observed)
   * pinned now on first use.
   */
  async #trustedKeyIds(userId: string, listing: PublicKeyResponse | null, listed: DeviceView[]): Promise<string[]> {
    const own = userId === this.session.userId;
    if (own) {
      const held = this.session.keyring.entries().map((e) => e.keyId);
      if (held.length > 0) return held;
    }
    let pin = await this.session.pins.get(userId);
    if (!pin && own) {
      if (!listing) return [];
      let linked: { keyId: string };
      try {
        linked = JSON.parse(core(() => this.linkedOwnKey(JSON.stringify(listed), JSON.stringify(listing)))) as { keyId: string };
      } catch (e) {
        if (!(e instanceof MlsError)) throw e;
        this.ownKeyUnverified = `your devices are not trusted on this device: ${e.detail}`;
        return [];
      }
      pin = { userId, username: this.names.get(userId) ?? "", keyId: linked.keyId, knownKeyIds: [], firstSeen: Date.now() };
      await this.session.pins.put(pin);
    }
    if (!pin) {
      const contact = core(() => this.core.contact(userId));
      const active = contact ? (JSON.parse(contact) as { pinnedKeyId: string }).pinnedKeyId : null;
      if (!active) return [];
      // Without a lookup by name, the username is bound on the first one (Session.lookup fills an empty one in).
      pin = { userId, username: this.names.get(userId) ?? "", keyId: active, knownKeyIds: [], firstSeen: Date.now() };
      await this.session.pins.put(pin);
    }
    return [pin.keyId, ...pin.knownKeyIds];
  }
}
