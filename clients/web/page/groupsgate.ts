// The Groups section before group chats run: the set-up form (this browser's device name), and the lazy load of
// page/groups/ — a chunk of its own with ts-mls — on first use, or at sign-in when group chats were set up in this
// browser before (running, or waiting for the approval of this browser's device). The 1:1 chat never loads that chunk otherwise.

import type { SignedIn } from "./account.js";
import { byId, setText } from "./dom.js";
import { UserInputError } from "./errors.js";
import type { GroupsApp } from "./groups/groups.js";

// docs/openapi.yaml: a device's displayName is 1–64 characters without control characters.
const DEVICE_NAME = /^[^\p{Cc}]{1,64}$/u;

export class GroupsGate {
  readonly #el = {
    setup: byId("groups-setup", HTMLFormElement),
    name: byId("groups-device-name", HTMLInputElement),
    progress: byId("groups-progress", HTMLElement),
    main: byId("groups-main", HTMLElement),
    title: byId("groups-title", HTMLHeadingElement),
  };
  readonly #act: (fn: () => Promise<void>) => void;
  #current: { s: SignedIn; pollIntervalMs: number; onError: (e: unknown) => void } | null = null;
  #app: GroupsApp | null = null;
  /** Bumped at every sign-in and sign-out: a start still loading for an earlier one is dropped. */
  #generation = 0;
  #starting = false;

  constructor(act: (fn: () => Promise<void>) => void) {
    this.#act = act;
    this.#el.setup.addEventListener("submit", (ev) => {
      ev.preventDefault();
      act(async () => {
        const name = this.#el.name.value.trim();
        if (!DEVICE_NAME.test(name)) throw new UserInputError("A device name has 1–64 characters.", this.#el.name);
        await this.#start(name);
      });
    });
  }

  /** Signed in: group chats open at once if they were set up in this browser, else the set-up form is shown. */
  async signIn(s: SignedIn, pollIntervalMs: number, onError: (e: unknown) => void): Promise<void> {
    const gen = ++this.#generation;
    this.#current = { s, pollIntervalMs, onError };
    const enabled = await s.records.groupsEnabled();
    if (gen !== this.#generation) return;
    if (!enabled) return this.#show("setup");
    this.#show("none"); // opening: the set-up form would offer what exists already
    try {
      await this.#start(null);
    } finally {
      if (gen === this.#generation && !this.#app) this.#show("setup"); // could not open: set up again from here
    }
  }

  signOut(): void {
    this.#generation++;
    this.#current = null;
    this.#app?.stop();
    this.#app = null;
    this.#show("none");
  }

  async #start(deviceName: string | null): Promise<void> {
    const cur = this.#current;
    if (!cur || this.#app || this.#starting) return;
    const gen = this.#generation;
    const progress = (text: string) => setText(this.#el.progress, text);
    this.#starting = true;
    this.#el.setup.setAttribute("aria-busy", "true");
    let app: GroupsApp;
    let returned = false;
    try {
      progress("Loading group chats…");
      const { startGroups } = await import("./groups/groups.js");
      if (gen !== this.#generation) return;
      const onRunning = () => {
        if (gen !== this.#generation) return;
        this.#show("running");
        if (deviceName !== null || returned) this.#el.title.focus(); // set up now, or approved while the user waited
      };
      app = await startGroups({ signedIn: cur.s, pollIntervalMs: cur.pollIntervalMs, deviceName, act: this.#act, onError: cur.onError, progress, onRunning });
      returned = true;
    } finally {
      this.#starting = false;
      this.#el.setup.removeAttribute("aria-busy");
      progress("");
    }
    if (gen !== this.#generation) return app.stop(); // signed out meanwhile
    this.#app = app;
    if (this.#el.main.hidden) this.#show("none"); // pending: link.ts shows the wait until it runs
  }

  #show(what: "setup" | "running" | "none"): void {
    this.#el.setup.hidden = what !== "setup";
    this.#el.main.hidden = what !== "running";
  }
}
