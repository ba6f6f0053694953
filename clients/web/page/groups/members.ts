// The member panel of an open group: every member user with each of their devices as the directory lists them, and
// for each device whether THIS browser trusts it (certified by the identity key it trusts for that user: its own
// key, or the contact's pinned one) and whether it is in the group. Words and icons; colour only repeats them.

import type { GroupReport, ListedDevice, MlsDevice } from "../../src/index.js";
import { h } from "../dom.js";
import { memberName } from "./list.js";

export interface MemberUser {
  userId: string;
  name: string;
  me: boolean;
  /** The user's devices in the directory (pending, active, revoked). */
  devices: ListedDevice[];
  /** Device ids that are leaves of the group. */
  inGroup: Set<string>;
}

/** The members of `report`, each with their listed devices (one directory request per user). */
export async function loadMembers(device: MlsDevice, report: GroupReport): Promise<MemberUser[]> {
  const users = new Map<string, MemberUser>();
  for (const m of report.members) {
    let u = users.get(m.userId);
    if (!u) {
      u = { userId: m.userId, name: memberName(m), me: m.userId === device.userId, devices: [], inGroup: new Set() };
      users.set(m.userId, u);
    }
    u.inGroup.add(m.deviceId);
  }
  for (const u of users.values()) u.devices = await device.devices(u.userId);
  return [...users.values()].sort((a, b) => Number(b.me) - Number(a.me) || a.name.localeCompare(b.name));
}

function deviceLine(u: MemberUser, d: ListedDevice): HTMLLIElement {
  const trust = d.trusted
    ? `✓ trusted: certified by ${u.me ? "your key" : `the key you pinned for ${u.name}`}`
    : `⚠ not trusted: not certified by a key you trust for ${u.me ? "yourself" : u.name}`;
  const member = u.inGroup.has(d.deviceId) ? "in the group" : "not in the group";
  const status = d.status === "active" ? "" : ` · ${d.status}`;
  return h(
    "li",
    { class: `device ${d.trusted ? "device-trusted" : "device-untrusted"}`, "data-device-id": d.deviceId, "data-trusted": String(d.trusted) },
    h("span", { class: "device-name" }, `${d.displayName} (${d.deviceId})`),
    ` · ${trust} · ${member}${status} · fingerprint `,
    h("code", {}, d.fingerprint),
  );
}

/** The panel's items; each other user has a "Remove" button (data-remove-user, handled by the group view). */
export function memberItems(users: readonly MemberUser[]): HTMLLIElement[] {
  return users.map((u) => {
    const listed = new Set(u.devices.map((d) => d.deviceId));
    // a leaf whose device the directory no longer lists (revoked) is still shown
    const unlisted = [...u.inGroup].filter((id) => !listed.has(id)).map((id) =>
      h("li", { class: "device device-untrusted", "data-device-id": id, "data-trusted": "false" }, `${id} · ⚠ not in the directory any more · in the group`),
    );
    return h(
      "li",
      { class: "member", "data-user-id": u.userId },
      h("span", { class: "member-name" }, u.me ? `${u.name} (you)` : u.name),
      u.me ? null : h("button", { type: "button", class: "secondary", "data-remove-user": u.userId }, `Remove ${u.name}`),
      h("ul", { class: "devices" }, ...u.devices.map((d) => deviceLine(u, d)), ...unlisted),
    );
  });
}
