// Which devices this device trusts (docs/mls.md, "Trust"). The decisions are the client core's
// (e2ee_client_core::devices::check_device, through the wasm `Trust`): a device is trusted only under a certificate
// that verifies with an identity key of its user that this device trusts and that the user's key listing does not
// list as revoked. Which keys those are comes from this device's own records, the same pins as the 1:1 chat
// (src/pins.ts): its own identity keys (the keyring) for its own user, else the user's pinned and accepted keys,
// the active key pinned on first use. A certificate by a key the server merely lists (a server-invented one) does
// not verify, so the server cannot slip a device of its own into a group.

import { ApiError, type PublicKeyResponse } from "../api.js";
import { type Session } from "../session.js";
import { type DeviceView, type MlsApi } from "./api.js";
import { Trust, core, coreJson } from "./core.js";

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

  constructor(
    readonly session: Session,
    readonly api: MlsApi,
    readonly names: ReadonlyMap<string, string>,
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
      const name = (await this.session.pins.get(u))?.username || this.names.get(u);
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
    const keys = await this.#trustedKeyIds(userId);
    core(() => this.core.trustKeys(userId, JSON.stringify(keys.map((keyId) => ({ keyId })))));
    await this.name([userId]);
    const listed = (await this.api.listDevices(userId)).devices;
    const decided = coreJson<{ trusted: string[]; refused: Record<string, string> }>(() => this.core.checkDevices(userId, JSON.stringify(listed)));
    return { listed, trusted: new Set(decided.trusted), refused: decided.refused };
  }

  /**
   * Own user: the identity keys of this device's keyring (older ones too: devices certified before a rotation
   * stay trusted until that key is revoked). Anyone else, and the own user on a device without the identity key
   * (a linked device): the pinned and accepted keys, the active key (as the core read it from the listing just
   * observed) pinned now on first use.
   */
  async #trustedKeyIds(userId: string): Promise<string[]> {
    if (userId === this.session.userId) {
      const own = this.session.keyring.entries().map((e) => e.keyId);
      if (own.length > 0) return own;
    }
    let pin = await this.session.pins.get(userId);
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
