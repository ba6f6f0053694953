// The groups this browser's MLS device is in: for each its report (name, epoch, member devices), the messages the
// device kept (by log position), how far the user has seen them (stored, so unread counts survive a reload) and
// whether the device was removed. The list shows each group with its unread count.

import { MlsError, type GroupMessage, type GroupReport, type MlsDevice } from "../../src/index.js";
import { contactName } from "../contacts.js";
import { renderChatEntries } from "../dom.js";
import type { PageRecords } from "../storage.js";

export interface GroupEntry {
  groupId: string;
  report: GroupReport;
  /** Messages by log position (seq). */
  messages: Map<number, GroupMessage>;
  /** The highest seq the user has seen. */
  seen: number;
  /** This device is no member any more: nothing new can be read or sent. */
  removed: boolean;
}

/** A member on screen: the username this browser knows (looked up, or pinned with one), else as an unnamed contact. */
export function memberName(m: { userId: string; username?: string }): string {
  return contactName({ userId: m.userId, username: m.username ?? null });
}

/** The sender of a message on screen (the SDK gives the user id when it knows no username). */
export function senderName(m: GroupMessage): string {
  return m.sender === m.senderUserId ? memberName({ userId: m.senderUserId }) : m.sender;
}

/** A group's name on screen: its local name (names are not shared in MLS here), else who is in it besides this user. */
export function groupName(r: GroupReport, myUserId: string): string {
  if (r.name) return r.name;
  const others = [...new Map(r.members.filter((m) => m.userId !== myUserId).map((m) => [m.userId, memberName(m)])).values()];
  return others.length ? `Group with ${others.join(", ")}` : "Group with only you";
}

/** Messages in log order. */
export function inOrder(e: GroupEntry): GroupMessage[] {
  return [...e.messages.values()].sort((a, b) => a.seq - b.seq);
}

export class GroupList {
  readonly #device: MlsDevice;
  readonly #records: PageRecords;
  readonly #list: HTMLUListElement;
  readonly #empty: HTMLElement;
  readonly #entries = new Map<string, GroupEntry>();
  #openId: string | null = null;
  #closed = false;
  /** Called when the user picks a group. */
  onOpen: (e: GroupEntry) => void = () => {};

  constructor(device: MlsDevice, records: PageRecords, list: HTMLUListElement, empty: HTMLElement) {
    this.#device = device;
    this.#records = records;
    this.#list = list;
    this.#empty = empty;
  }

  get(groupId: string): GroupEntry | undefined {
    return this.#entries.get(groupId);
  }

  entries(): GroupEntry[] {
    return [...this.#entries.values()];
  }

  /** The groups and messages as this browser saved them (no network): shown at once, before the first poll. */
  async load(): Promise<void> {
    await this.refreshReports();
    for (const e of this.#entries.values()) await this.refreshMessages(e.groupId);
    this.render();
  }

  /**
   * Names, epochs and members of every group again from the device (no network; usernames as the pins know them
   * now); new groups are added. Redraws only when something changed.
   */
  async refreshReports(): Promise<void> {
    let changed = false;
    for (const report of await this.#device.groups()) {
      const known = this.#entries.get(report.groupId);
      if (known) {
        if (JSON.stringify(known.report) === JSON.stringify(report)) continue;
        known.report = report;
      } else {
        const seen = await this.#records.groupSeen(report.groupId);
        this.#entries.set(report.groupId, { groupId: report.groupId, report, messages: new Map(), seen, removed: false });
      }
      changed = true;
    }
    if (changed) this.render();
  }

  /** The device's kept messages of a group merged in (an add, remove or send may have read some first). */
  async refreshMessages(groupId: string): Promise<void> {
    const e = this.#entries.get(groupId);
    if (!e || e.removed) return;
    try {
      this.merge(groupId, await this.#device.messages(groupId));
    } catch (err) {
      // removed meanwhile: the device forgot the group's state; what is shown stays
      if (!(err instanceof MlsError && err.code === "not_in_group")) throw err;
      this.setRemoved(groupId);
    }
  }

  /** Adds messages (a read report's, or the kept ones); returns those that were not known yet. */
  merge(groupId: string, messages: readonly GroupMessage[]): GroupMessage[] {
    const e = this.#entries.get(groupId);
    if (!e) return [];
    const fresh = messages.filter((m) => !e.messages.has(m.seq));
    for (const m of messages) e.messages.set(m.seq, m);
    if (fresh.length) this.render();
    return fresh;
  }

  setRemoved(groupId: string): void {
    const e = this.#entries.get(groupId);
    if (!e || e.removed) return;
    e.removed = true;
    this.render();
  }

  /** The group is gone from this browser (left or forgotten). */
  async remove(groupId: string): Promise<void> {
    this.#entries.delete(groupId);
    if (this.#openId === groupId) this.#openId = null;
    await this.#records.forgetGroup(groupId);
    this.render();
  }

  /** Messages of other users not seen yet. */
  unread(e: GroupEntry): number {
    let n = 0;
    for (const m of e.messages.values()) if (m.seq > e.seen && m.senderUserId !== this.#device.userId) n++;
    return n;
  }

  /** Everything shown of the group is seen (it is open). */
  async markSeen(e: GroupEntry): Promise<void> {
    const last = Math.max(e.seen, ...e.messages.keys());
    if (last === e.seen) return;
    e.seen = last;
    this.render();
    await this.#records.setGroupSeen(e.groupId, last);
  }

  setOpen(groupId: string | null): void {
    this.#openId = groupId;
    this.render();
  }

  /** Signed out: the list is emptied and stays so. */
  close(): void {
    this.#closed = true;
    this.#list.replaceChildren();
  }

  /** Redraws the list, keeping keyboard focus on the group that had it. */
  render(): void {
    if (this.#closed) return;
    const me = this.#device.userId;
    renderChatEntries(
      this.#list,
      this.#empty,
      [...this.#entries.values()].map((e) => {
        const users = new Set(e.report.members.map((m) => m.userId)).size;
        return {
          id: e.groupId,
          name: groupName(e.report, me),
          state: e.removed ? "✕ you are no longer a member" : `${users} member${users === 1 ? "" : "s"}`,
          unread: this.unread(e),
          open: e.groupId === this.#openId,
          onOpen: () => this.onOpen(e),
        };
      }),
    );
  }
}
