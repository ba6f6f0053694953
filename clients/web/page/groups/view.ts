// The open group: its messages in log order, each with its state from the SDK (ok / failed with the reason / left),
// the member panel (members.ts), the composer, and the membership actions: add a member by username, remove one,
// leave, and forget a group this device was removed from.

import { ApiError, MlsError, type GroupMessage, type MlsDevice, type UserInfo } from "../../src/index.js";
import { announce, byId, h, messageItem, setFieldError, setText } from "../dom.js";
import { UserInputError } from "../errors.js";
import { NoGroupDeviceError } from "./errors.js";
import { checkMessageText, checkUsername } from "../input.js";
import { groupName, inOrder, memberName, senderName, type GroupEntry, type GroupList } from "./list.js";
import { loadMembers, memberItems } from "./members.js";

type Shown = GroupMessage["status"] | "sent";

const STATUS_TEXT: Record<Shown, string> = {
  ok: "✓ Authenticated: sent by a member device of the group",
  sent: "✓ Sent: encrypted in this browser",
  left: "⇠ Left the group",
  failed: "✗ Could not be read",
};

/** Looks a user up by name for the group (pins apply); an unknown name is an error at the field. */
export async function lookupAt(device: MlsDevice, name: string, field: HTMLInputElement): Promise<UserInfo> {
  try {
    return await device.lookup(name);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && e.code === "user_not_found") throw new UserInputError(`There is no user ${name}.`, field);
    throw e;
  }
}

/** The users of `wanted` without a device in `members` (they have not set up group chats, or no key package left). */
export function withoutDevice(wanted: readonly UserInfo[], members: readonly { userId: string }[]): string[] {
  return wanted.filter((u) => !members.some((m) => m.userId === u.userId)).map((u) => u.username);
}

export class GroupView {
  readonly #device: MlsDevice;
  readonly #list: GroupList;
  readonly #el = {
    title: byId("group-title", HTMLHeadingElement),
    none: byId("group-none", HTMLElement),
    body: byId("group-body", HTMLElement),
    removed: byId("group-removed", HTMLElement),
    members: byId("member-list", HTMLUListElement),
    addForm: byId("add-member-form", HTMLFormElement),
    addField: byId("add-member-username", HTMLInputElement),
    messages: byId("group-messages", HTMLOListElement),
    composer: byId("group-composer", HTMLFormElement),
    label: byId("group-composer-label", HTMLLabelElement),
    text: byId("group-composer-text", HTMLTextAreaElement),
    leave: byId("leave-group", HTMLButtonElement),
  };
  #entry: GroupEntry | null = null;
  /** Bumped on every open/close: an answer for a group that is no longer open is dropped. */
  #generation = 0;
  #sending = false;

  constructor(device: MlsDevice, list: GroupList) {
    this.#device = device;
    this.#list = list;
  }

  get entry(): GroupEntry | null {
    return this.#entry;
  }

  /** Shows the group: its messages (all seen now), focus in the composer, then its members and their devices. */
  async open(e: GroupEntry): Promise<void> {
    const gen = ++this.#generation;
    this.#entry = e;
    this.#list.setOpen(e.groupId);
    this.#renderTitle(e);
    this.#el.none.hidden = true;
    this.#el.body.hidden = false;
    setFieldError(this.#el.text, null);
    this.#el.members.replaceChildren(h("li", { class: "muted" }, "… checking the members' devices"));
    this.#renderMessages();
    this.#renderState();
    (e.removed ? this.#el.title : this.#el.text).focus();
    await this.#list.markSeen(e);
    await this.#loadMembers(gen);
  }

  close(): void {
    this.#generation++;
    this.#entry = null;
    this.#list.setOpen(null);
    this.#el.messages.replaceChildren();
    this.#el.members.replaceChildren();
    this.#el.body.hidden = true;
    this.#el.none.hidden = false;
    setText(this.#el.title, "Group chat");
  }

  /** After a poll: new messages of the open group are shown (and seen); a new epoch reloads the member panel. */
  async update(fresh: readonly GroupMessage[], epochChanged: boolean): Promise<void> {
    const e = this.#entry;
    if (!e) return;
    const gen = this.#generation;
    this.#renderTitle(e);
    this.#renderMessages(true);
    this.#renderState();
    await this.#list.markSeen(e);
    if (epochChanged && !e.removed) await this.#loadMembers(gen);
    if (fresh.length) announce(fresh.map((m) => `${senderName(m)} in the group: ${m.text ?? STATUS_TEXT[m.status]}`).join(" "));
  }

  async send(): Promise<void> {
    const e = this.#entry;
    if (!e || e.removed || this.#sending) return;
    const text = checkMessageText(this.#el.text);
    const gen = this.#generation;
    this.#sending = true;
    try {
      await this.#ifStillMember(e, () => this.#device.send(e.groupId, text));
      // sent even if the group was left meanwhile: the text must not stay to be sent twice
      if (this.#el.text.value === text) this.#el.text.value = "";
      await this.#list.refreshMessages(e.groupId);
      if (gen !== this.#generation) return;
      setFieldError(this.#el.text, null);
      this.#renderMessages(true);
      await this.#list.markSeen(e);
      announce("Message sent to the group.");
    } finally {
      this.#sending = false;
    }
  }

  /** Adds every certified device of the user named in the form; refused devices (trust) make it fail as a whole. */
  async addMember(): Promise<void> {
    const e = this.#entry;
    if (!e || e.removed) return;
    const field = this.#el.addField;
    const user = await lookupAt(this.#device, checkUsername(field), field);
    if (user.userId === this.#device.userId) throw new UserInputError("That is you: you are in the group already.", field);
    if (e.report.members.some((m) => m.userId === user.userId)) throw new UserInputError(`${user.username} is in the group already.`, field);
    e.report = await this.#ifStillMember(e, () => this.#device.addMembers(e.groupId, [user.userId]));
    field.value = "";
    await this.#afterMembershipChange(e);
    const missing = withoutDevice([user], e.report.members);
    if (missing.length) throw new NoGroupDeviceError(missing);
    announce(`${user.username} was added to the group.`);
  }

  /** Removes every device of a member user (one commit). */
  async removeMember(userId: string): Promise<void> {
    const e = this.#entry;
    if (!e || e.removed) return;
    const member = e.report.members.find((m) => m.userId === userId);
    const name = memberName(member ?? { userId });
    e.report = await this.#ifStillMember(e, () => this.#device.removeMembers(e.groupId, [userId]));
    await this.#afterMembershipChange(e);
    this.#el.title.focus();
    announce(`${name} was removed from the group.`);
  }

  /** Leaves on all of this user's devices (another member's device commits the removal); the group is forgotten here. */
  async leave(): Promise<void> {
    const e = this.#entry;
    if (!e) return;
    const name = groupName(e.report, this.#device.userId);
    if (!confirm(`Leave “${name}”? Its messages and keys are deleted from this browser.`)) return;
    const r = await this.#device.leave(e.groupId);
    await this.#gone(e);
    announce(r.removalPending ? `You left ${name}; another member's device commits your removal.` : `You left ${name}.`);
  }

  /** A group this device was removed from: its state is deleted here. */
  async forget(): Promise<void> {
    const e = this.#entry;
    if (!e) return;
    try {
      await this.#device.leave(e.groupId);
    } catch (err) {
      if (!(err instanceof MlsError && err.code === "not_in_group")) throw err; // already forgotten by the SDK
    }
    await this.#gone(e);
    announce("The group was forgotten.");
  }

  async #gone(e: GroupEntry): Promise<void> {
    await this.#list.remove(e.groupId);
    if (this.#entry === e) this.close();
    byId("groups-title", HTMLHeadingElement).focus();
  }

  /** Runs a group operation; a refusal because this device is no member any more marks the group removed. */
  async #ifStillMember<T>(e: GroupEntry, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof MlsError && err.code === "not_in_group") {
        this.#list.setRemoved(e.groupId);
        if (this.#entry === e) this.#renderState();
      }
      throw err;
    }
  }

  async #afterMembershipChange(e: GroupEntry): Promise<void> {
    const gen = this.#generation;
    await this.#list.refreshMessages(e.groupId);
    this.#list.render();
    if (gen !== this.#generation) return;
    this.#renderTitle(e);
    this.#renderMessages(true);
    await this.#loadMembers(gen);
  }

  async #loadMembers(gen: number): Promise<void> {
    const e = this.#entry;
    if (!e || e.removed) return;
    const r = await this.#device.members(e.groupId);
    if (gen !== this.#generation) return;
    e.report = r;
    const users = await loadMembers(this.#device, r);
    if (gen !== this.#generation) return;
    const focused = (document.activeElement as HTMLElement | null)?.dataset?.removeUser;
    this.#el.members.replaceChildren(...memberItems(users));
    if (focused) this.#el.members.querySelector<HTMLElement>(`[data-remove-user="${CSS.escape(focused)}"]`)?.focus();
    await this.#list.refreshMessages(e.groupId); // members() reads the log first
    if (gen === this.#generation) this.#renderMessages(true);
  }

  /** The title and the composer's label (a group named by its members is renamed when they change). */
  #renderTitle(e: GroupEntry): void {
    const name = groupName(e.report, this.#device.userId);
    setText(this.#el.title, name);
    setText(this.#el.label, `Message to ${name}`);
  }

  #renderState(): void {
    const removed = this.#entry?.removed ?? false;
    this.#el.removed.hidden = !removed;
    this.#el.composer.hidden = removed;
    this.#el.addForm.hidden = removed;
    this.#el.leave.hidden = removed;
    if (removed) this.#el.members.replaceChildren();
  }

  /** Draws every message again in log order; `follow` keeps the view at the bottom if it was there. */
  #renderMessages(follow = false): void {
    const e = this.#entry;
    if (!e) return;
    const list = this.#el.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.replaceChildren(...inOrder(e).map((m) => this.#item(m)));
    if (!follow || atBottom) list.scrollTop = list.scrollHeight;
  }

  #item(m: GroupMessage): HTMLLIElement {
    const me = this.#device;
    const mine = m.senderUserId === me.userId;
    const here = mine && m.senderDevice === me.deviceId;
    const status: Shown = here && m.status === "ok" ? "sent" : m.status;
    const from = here ? "You" : mine ? `You, on ${m.senderDevice}` : senderName(m);
    return messageItem({
      attrs: { "data-seq": String(m.seq) },
      own: mine,
      status,
      meta: [h("span", { class: "from" }, from), here ? null : ` · device ${m.senderDevice}`, ` · epoch ${m.epoch}`],
      text: m.status === "left" ? `${from} left the group.` : (m.text ?? null),
      withheld: "Message withheld: it could not be read on this device.",
      statusText: m.reason === undefined ? STATUS_TEXT[status] : `${STATUS_TEXT[status]}: ${m.reason}`,
    });
  }
}
