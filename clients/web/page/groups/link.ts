// Linking devices (docs/mls.md, "Linking a device"). A browser of an account that has a group device already is
// registered as a PENDING device (MlsDevice.request): it shows its fingerprint and polls its status until one of the
// user's other devices approves it, then uploads its key packages and opens group chats (that device's next sync
// adds it to the user's groups). A device holding the identity key lists the user's pending devices with their
// fingerprints and approves one on request (MlsDevice.approve).

import type { DeviceReport, MlsDevice } from "../../src/index.js";
import { announce, byId, h, setText } from "../dom.js";
import { PollLoop } from "../poller.js";
import type { GroupsApp, GroupsOptions } from "./groups.js";

/**
 * Shows the pending state of `device` and polls until it is no longer pending; then `start` opens group chats (after
 * the key packages are uploaded, so that the approving device's next sync finds them). The returned app stops the
 * wait, or the group chats once they run.
 */
export function waitForApproval(o: GroupsOptions, device: MlsDevice, fingerprint: string, start: () => Promise<GroupsApp>, release: () => void): GroupsApp {
  const el = {
    panel: byId("groups-pending", HTMLElement),
    title: byId("groups-pending-title", HTMLHeadingElement),
    id: byId("groups-pending-id", HTMLElement),
    fp: byId("groups-pending-fp", HTMLElement),
    command: byId("groups-pending-command", HTMLElement),
  };
  setText(el.id, device.deviceId);
  setText(el.fp, fingerprint);
  setText(el.command, `e2ee device approve ${device.deviceId}`);
  el.panel.hidden = false;
  if (o.deviceName !== null) el.title.focus(); // the set-up form that had focus is gone
  let app: GroupsApp | null = null;
  let stopped = false;
  const loop = new PollLoop(
    o.pollIntervalMs,
    async () => {
      if ((await device.status()) === "pending" || stopped) return;
      o.progress("This browser was approved: uploading its key packages…");
      try {
        await device.topUpKeyPackages();
        if (stopped) return;
        app = await start();
      } finally {
        o.progress("");
      }
      loop.stop();
      if (stopped) return app.stop(); // signed out meanwhile
      el.panel.hidden = true;
      announce("This browser was approved: your group chats are open here.");
    },
    o.onError,
  );
  loop.start();
  return {
    stop() {
      stopped = true;
      loop.stop();
      el.panel.hidden = true;
      if (app) app.stop();
      else release();
    },
  };
}

/** The user's pending devices, each with its fingerprint and an "Approve" button; shown only when there are any. */
export class DeviceApprovals {
  readonly #device: MlsDevice;
  readonly #el = {
    section: byId("device-approvals", HTMLElement),
    list: byId("device-approval-list", HTMLUListElement),
  };
  readonly #off = new AbortController();

  constructor(device: MlsDevice, act: (fn: () => Promise<void>) => void) {
    this.#device = device;
    this.#el.list.addEventListener(
      "click",
      (ev) => {
        const deviceId = ev.target instanceof HTMLElement ? ev.target.dataset.approveDevice : undefined;
        if (deviceId) act(() => this.#approve(deviceId));
      },
      { signal: this.#off.signal },
    );
  }

  /** Lists the pending devices again (approve() without a device id approves nothing). */
  async refresh(): Promise<void> {
    this.#show(await this.#device.approve());
  }

  close(): void {
    this.#off.abort();
    this.#show([]);
  }

  async #approve(deviceId: string): Promise<void> {
    await this.#device.approve({ deviceId });
    announce(`Device ${deviceId} approved: it joins your groups once it has uploaded its key packages.`);
    await this.refresh();
    byId("groups-title", HTMLHeadingElement).focus(); // the pressed button is gone
  }

  #show(pending: readonly DeviceReport[]): void {
    this.#el.section.hidden = pending.length === 0;
    this.#el.list.replaceChildren(
      ...pending.map((d) =>
        h(
          "li",
          { class: "device", "data-device-id": d.deviceId },
          `${d.deviceId} · waiting for approval · fingerprint `,
          h("code", {}, d.fingerprint),
          " ",
          h("button", { type: "button", "data-approve-device": d.deviceId }, `Approve ${d.deviceId}`),
        ),
      ),
    );
  }
}
