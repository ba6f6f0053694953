// Group chats (MLS, src/mls/) of the page. This module and what it imports (the MLS driver and the client core's
// glue) are a chunk of their own, loaded on first use (groupsgate.ts), so the 1:1 chat never loads them; the core's
// WebAssembly module is fetched from next to this chunk when the device opens. It opens this browser's MLS device
// from the browser's store (sealed: openSealedStore with SignedIn.mlsKey), or registers a new one (certified by the account's key; a pending one, approved from
// another device of the user, when the account has one: link.ts), then shows the groups, the open group (view.ts),
// the user's devices waiting for approval, and polls: sync() joins Welcomes and reads every group's log.

import { MlsApi, MlsDevice, MlsError, openSealedStore, setCoreSource, StorageError, toHex, type GroupMessage } from "../../src/index.js";
import type { SignedIn } from "../account.js";
import { announce, byId, setText } from "../dom.js";
import { UserInputError } from "../errors.js";
import { GroupsBusyError, InvitationRefusedError, NoGroupDeviceError } from "./errors.js";
import { checkUsernames, enterSends } from "../input.js";
import { PollLoop } from "../poller.js";
// The 1:1 page (app.ts, already running when this chunk loads: evaluated once) is imported here too, so that esbuild
// puts all of it into the chunk shared with this one instead of splitting it over two files (scripts/bundle.mjs).
import "../app.js";
import { DeviceApprovals, waitForApproval } from "./link.js";
import { GroupList, groupName } from "./list.js";
import { GroupView, lookupAt, withoutDevice } from "./view.js";

// build-page.mjs copies the module next to this chunk (scripts/bundle.mjs CORE_WASM).
setCoreSource(new URL("./e2ee_client_wasm_bg.wasm", import.meta.url));

export interface GroupsOptions {
  signedIn: SignedIn;
  pollIntervalMs: number;
  /** Register a new device with this display name when the browser has none; null: only open an existing one. */
  deviceName: string | null;
  /** Runs a user action; what it throws is shown. */
  act: (fn: () => Promise<void>) => void;
  /** A failed poll. */
  onError: (e: unknown) => void;
  progress: (text: string) => void;
  /** Group chats run (at once, or once this browser's pending device was approved). */
  onRunning: () => void;
}

export interface GroupsApp {
  stop(): void;
}

/**
 * One MLS device per store, so group chats run in one tab at a time: a Web Lock per account, held while they run.
 * Resolves to its release; GroupsBusyError when another tab holds it.
 */
function holdLock(userId: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    navigator.locks
      .request(`e2ee-groups-${userId}`, { ifAvailable: true }, (lock) => {
        if (!lock) return reject(new GroupsBusyError());
        return new Promise<void>((release) => resolve(release));
      })
      .catch(reject);
  });
}

async function openDevice(o: GroupsOptions): Promise<MlsDevice> {
  const { session, username, mlsKey } = o.signedIn;
  if (mlsKey instanceof StorageError) throw mlsKey; // the data key could not be unlocked at sign-in
  // The MLS records encrypted with the data key unlocked at sign-in (plaintext ones from before are sealed once).
  const kv = await openSealedStore(o.signedIn.kv, session.userId, mlsKey);
  try {
    return await MlsDevice.open({ session, kv, username });
  } catch (e) {
    if (!(e instanceof MlsError && e.code === "no_device") || o.deviceName === null) throw e;
  }
  o.progress("Registering this browser as a group device, with its key packages…");
  const deviceId = `web-${toHex(crypto.getRandomValues(new Uint8Array(4)))}`;
  const opts = { session, kv, username, deviceId, displayName: o.deviceName };
  // The account's first group device is certified here, by the identity key this browser holds. When the account
  // has an active group device already (another browser, the CLI), this one is linked instead: pending, approved
  // there after the user compared its fingerprint. (The server would also take a certificate by the identity key
  // now, whatever is active, so that its holder can recover from a stolen device; the page keeps the linking step.)
  const listed = await new MlsApi(session.api).listDevices(session.userId);
  if (!listed.devices.some((d) => d.status === "active")) return (await MlsDevice.init(opts)).device;
  o.progress("Your account has a group device already: registering this browser as a device waiting for approval…");
  return (await MlsDevice.request(opts)).device;
}

export async function startGroups(o: GroupsOptions): Promise<GroupsApp> {
  const release = await holdLock(o.signedIn.session.userId);
  try {
    o.progress("Opening group chats…");
    const device = await openDevice(o);
    await o.signedIn.records.enableGroups(); // also while pending: a reload opens the same pending device
    const started = async () => {
      const app = await run(o, device, release);
      o.onRunning();
      return app;
    };
    if ((await device.status()) === "pending") return waitForApproval(o, device, await device.fingerprint(), started, release);
    return await started();
  } catch (e) {
    release();
    throw e;
  } finally {
    o.progress("");
  }
}

async function run(o: GroupsOptions, device: MlsDevice, release: () => void): Promise<GroupsApp> {
  const el = {
    device: byId("groups-device", HTMLElement),
    createForm: byId("create-group-form", HTMLFormElement),
    name: byId("group-name", HTMLInputElement),
    members: byId("group-members", HTMLInputElement),
    list: byId("group-list", HTMLUListElement),
    empty: byId("groups-empty", HTMLElement),
    composer: byId("group-composer", HTMLFormElement),
    text: byId("group-composer-text", HTMLTextAreaElement),
    addForm: byId("add-member-form", HTMLFormElement),
    memberList: byId("member-list", HTMLUListElement),
    leave: byId("leave-group", HTMLButtonElement),
    forget: byId("forget-group", HTMLButtonElement),
  };
  const { act } = o;
  const me = device.userId;
  setText(el.device, `This browser is your group device ${device.deviceId}, fingerprint ${await device.fingerprint()}.`);
  const list = new GroupList(device, o.signedIn.records, el.list, el.empty);
  const view = new GroupView(device, list);
  list.onOpen = (e) => act(() => view.open(e));
  await list.load();
  const approvals = o.signedIn.session.key ? new DeviceApprovals(device, act) : null; // approving needs the key

  // The page's elements outlive this run (a later sign-in starts another): every listener goes with `stop`.
  const off = new AbortController();
  const on = <K extends keyof HTMLElementEventMap>(t: HTMLElement, type: K, fn: (ev: HTMLElementEventMap[K]) => void) =>
    t.addEventListener(type, fn, { signal: off.signal });
  const submit = (form: HTMLFormElement, fn: () => Promise<void>) =>
    on(form, "submit", (ev) => {
      ev.preventDefault();
      act(fn);
    });

  submit(el.createForm, async () => {
    const name = el.name.value.trim();
    if (name.length > 64) throw new UserInputError("A group name has at most 64 characters.", el.name);
    const users = [];
    for (const n of checkUsernames(el.members)) users.push(await lookupAt(device, n, el.members));
    if (users.some((u) => u.userId === me)) throw new UserInputError("You are in every group you create: list the others.", el.members);
    let report;
    try {
      report = await device.createGroup(users.map((u) => u.userId), name ? { name } : {});
    } finally {
      await list.refreshReports(); // a refused add (trust) still leaves the group with this device in it
    }
    el.name.value = "";
    el.members.value = "";
    const entry = list.get(report.groupId);
    if (entry) await view.open(entry);
    const missing = withoutDevice(users, report.members);
    if (missing.length) throw new NoGroupDeviceError(missing);
    announce(`Group ${groupName(report, me)} created.`);
  });
  submit(el.composer, () => view.send());
  enterSends(el.text, el.composer);
  submit(el.addForm, () => view.addMember());
  on(el.memberList, "click", (ev) => {
    const userId = ev.target instanceof HTMLElement ? ev.target.dataset.removeUser : undefined;
    if (userId) act(() => view.removeMember(userId));
  });
  on(el.leave, "click", () => act(() => view.leave()));
  on(el.forget, "click", () => act(() => view.forget()));

  const refusedShown = new Set<string>();
  let stopped = false;
  const poll = async () => {
    const r = await device.sync();
    await approvals?.refresh();
    if (stopped) return;
    for (const d of r.refused) {
      if (refusedShown.has(d)) continue; // a refused Welcome stays in the inbox: said once
      refusedShown.add(d);
      o.onError(new InvitationRefusedError(d));
    }
    const epochs = new Map(list.entries().map((e) => [e.groupId, e.report.epoch]));
    const changed = new Set(r.groups.filter((g) => epochs.get(g.groupId) !== g.epoch).map((g) => g.groupId));
    await list.refreshReports(); // new groups, members, and names pinned since (e.g. a contact added by name)
    const open = view.entry;
    let openFresh: GroupMessage[] = [];
    const elsewhere: string[] = [];
    for (const g of r.groups) {
      const fresh = list.merge(g.groupId, g.messages).filter((m) => m.senderUserId !== me);
      if (g.removed) list.setRemoved(g.groupId);
      const entry = list.get(g.groupId);
      if (!entry) continue;
      if (entry === open) openFresh = fresh;
      else if (fresh.length) elsewhere.push(groupName(entry.report, me));
    }
    for (const id of r.joined) {
      const entry = list.get(id);
      if (entry) announce(`You were added to ${groupName(entry.report, me)}.`);
    }
    if (elsewhere.length) announce(`New group messages in ${elsewhere.join(", ")}.`);
    if (open && list.get(open.groupId) === open) await view.update(openFresh, changed.has(open.groupId));
  };
  const loop = new PollLoop(o.pollIntervalMs, poll, o.onError);
  loop.start();

  return {
    stop() {
      stopped = true;
      loop.stop();
      off.abort();
      view.close();
      list.close();
      approvals?.close();
      release();
    },
  };
}
