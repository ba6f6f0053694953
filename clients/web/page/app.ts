// The chat page's entry point: configuration, the sign-in view, the key step, and the wiring of the signed-in view
// (contacts, chat, poller, groups). Every user action runs through act(): input errors go next to their field,
// anything else to the alert region, and a 401 signs out. All cryptography happens in this browser, in the SDK
// (../src); keys, pins and group state stay in this browser's IndexedDB, the session token only in memory.

import { ApiError, fingerprint } from "../src/core.js";
import { signIn, type SignedIn } from "./account.js";
import { ChatView } from "./chat.js";
import { checkApiAllowed, loadConfig, pageCsp, type PageConfig } from "./config.js";
import { contactName, Contacts } from "./contacts.js";
import { announce, byId, setFieldError, setText } from "./dom.js";
import { Alerts, ConfigError, UserInputError } from "./errors.js";
import { GroupsGate } from "./groupsgate.js";
import { checkUsername, enterSends } from "./input.js";
import { BackupOffer, KeyStep, type KeyOutcome } from "./keysetup.js";
import { Poller } from "./poller.js";

const alerts = new Alerts(byId("alerts", HTMLElement));
// A failure no handler caught is a bug of the page; it is shown too (and stays in the console).
addEventListener("error", (ev) => alerts.show(ev.error ?? new Error(ev.message)));
addEventListener("unhandledrejection", (ev) => alerts.show(ev.reason));

const el = {
  serverUrl: byId("server-url", HTMLElement),
  accountBar: byId("account-bar", HTMLElement),
  meName: byId("me-name", HTMLElement),
  meFp: byId("me-fp", HTMLElement),
  logout: byId("logout", HTMLButtonElement),
  loginView: byId("login-view", HTMLElement),
  loginTitle: byId("login-title", HTMLHeadingElement),
  loginForm: byId("login-form", HTMLFormElement),
  username: byId("login-username", HTMLInputElement),
  password: byId("login-password", HTMLInputElement),
  progress: byId("login-progress", HTMLElement),
  appView: byId("app-view", HTMLElement),
  keyNotice: byId("key-notice", HTMLElement),
  addForm: byId("add-contact-form", HTMLFormElement),
  addUsername: byId("add-contact-username", HTMLInputElement),
  contactList: byId("contact-list", HTMLUListElement),
  contactsEmpty: byId("contacts-empty", HTMLElement),
  composer: byId("composer", HTMLFormElement),
  composerText: byId("composer-text", HTMLTextAreaElement),
  loadOlder: byId("load-older", HTMLButtonElement),
  keyPanel: byId("key-panel", HTMLElement),
  keyCancel: byId("key-cancel", HTMLButtonElement),
};

interface Running {
  contacts: Contacts;
  chat: ChatView;
  poller: Poller;
}
let running: Running | null = null;

function need(): Running {
  if (!running) throw new Error("page: not signed in");
  return running;
}

/**
 * Shows a failure where it belongs. A 401 of the session `owner` (the current one unless said otherwise) signs
 * out; one from a session already left (a poll still in flight) does not touch the current one.
 */
function fail(e: unknown, owner: Running | null = running): void {
  if (e instanceof UserInputError) {
    setFieldError(e.field, e.message);
    e.field.focus();
    return;
  }
  if (e instanceof ApiError && e.status === 401 && e.code !== "invalid_credentials" && owner !== null && owner === running) signOut();
  alerts.show(e);
}

/** Runs an action of the user; nothing it throws is lost. */
function act(fn: () => Promise<void>): void {
  fn().catch(fail);
}

// A field's error goes away as soon as it is edited.
document.addEventListener("input", (ev) => {
  const t = ev.target;
  if ((t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement) && t.hasAttribute("aria-invalid")) {
    setFieldError(t, null);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Sign in / out
// ---------------------------------------------------------------------------------------------------------------

async function login(cfg: PageConfig, register: boolean): Promise<void> {
  const username = checkUsername(el.username);
  const password = el.password.value;
  if (password === "") throw new UserInputError("Enter your password.", el.password);
  const buttons = [...el.loginForm.querySelectorAll("button")];
  buttons.forEach((b) => (b.disabled = true));
  el.loginForm.setAttribute("aria-busy", "true");
  let r: Awaited<ReturnType<typeof signIn>>;
  try {
    r = await signIn(cfg, username, password, register, (text) => setText(el.progress, text));
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    el.loginForm.removeAttribute("aria-busy");
    el.progress.textContent = "";
  }
  el.password.value = "";
  el.loginView.hidden = true;
  if (r.need) keyStep.show(r.signedIn, r.need);
  else await start(cfg, r.signedIn, { backupPem: null, replacedKeyNote: null });
}

async function start(cfg: PageConfig, s: SignedIn, outcome: KeyOutcome): Promise<void> {
  const { session } = s;
  const contacts = new Contacts(session, s.records, el.contactList, el.contactsEmpty);
  const chat = new ChatView(session, cfg, contacts);
  const poller: Poller = new Poller(session, contacts, chat, cfg.pollIntervalMs, (e) => fail(e, self));
  const self: Running = { contacts, chat, poller };
  contacts.onOpen = (c) => act(() => chat.open(c));
  contacts.onChange = (c) => {
    if (chat.contact?.userId === c.userId) chat.renderKeyPanel();
  };
  running = self;

  setText(el.meName, s.username);
  setText(el.meFp, session.key ? fingerprint(session.key.keyId) : "none");
  setText(el.keyNotice, outcome.replacedKeyNote ?? "");
  el.keyNotice.hidden = outcome.replacedKeyNote === null;
  el.accountBar.hidden = false;
  el.loginView.hidden = true;
  el.appView.hidden = false;
  if (outcome.backupPem !== null && session.key) backup.offer(outcome.backupPem, s.username, session.key.keyId);
  else el.addUsername.focus();
  announce(`Signed in as ${s.username}.`);
  await contacts.load();
  if (running !== self) return; // the user logged out meanwhile
  poller.start();
  act(() => groups.signIn(s, cfg.pollIntervalMs, (e) => fail(e, self)));
}

function signOut(): void {
  if (!running) return;
  running.poller.stop();
  running.chat.close();
  running.contacts.close();
  groups.signOut();
  backup.clear();
  running = null; // the session, and with it the bearer token, is dropped here
  el.accountBar.hidden = true;
  el.appView.hidden = true;
  el.loginView.hidden = false;
  el.loginTitle.focus();
}

const keyStep = new KeyStep(act, async (s, outcome) => {
  if (!config) throw new ConfigError("The page has no configuration, so it does not know its server.");
  await start(config, s, outcome);
});
const backup = new BackupOffer(() => el.addUsername.focus());
const groups = new GroupsGate(act);

el.keyCancel.addEventListener("click", () => {
  keyStep.hide(); // the signed-in session waiting for a key is dropped with it
  el.loginView.hidden = false;
  el.loginTitle.focus();
  announce("Logged out.");
});

// ---------------------------------------------------------------------------------------------------------------
// The signed-in view's controls (bound once; they act on the current session)
// ---------------------------------------------------------------------------------------------------------------

el.logout.addEventListener("click", () => {
  signOut();
  announce("Logged out.");
});

el.addForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  act(async () => {
    const r = need();
    const c = await r.contacts.add(el.addUsername);
    el.addUsername.value = "";
    announce(`Added ${contactName(c)}.`);
    await r.chat.open(c);
  });
});

el.composer.addEventListener("submit", (ev) => {
  ev.preventDefault();
  act(() => need().chat.send());
});

enterSends(el.composerText, el.composer);

el.loadOlder.addEventListener("click", () => act(() => need().chat.loadOlder()));

el.keyPanel.addEventListener("click", (ev) => {
  if (!(ev.target instanceof HTMLElement) || ev.target.id !== "accept-key") return;
  act(async () => {
    const { contacts, chat } = need();
    const c = chat.contact;
    if (!c) return;
    await contacts.acceptKey(c.userId);
    await chat.open(c); // opened again, messages signed by the accepted key now verify
    announce(`The new key of ${contactName(c)} is accepted.`);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Start: the configuration says where the API is; without it nobody can sign in.
// ---------------------------------------------------------------------------------------------------------------

let config: PageConfig | null = null;

el.loginForm.addEventListener("submit", (ev) => {
  ev.preventDefault(); // bound before the configuration loads, so the form never submits itself
  const register = ev.submitter instanceof HTMLButtonElement && ev.submitter.value === "register";
  act(async () => {
    if (!config) throw new ConfigError("The page has no configuration, so it does not know its server.");
    await login(config, register);
  });
});

try {
  const loaded = await loadConfig();
  checkApiAllowed(loaded, pageCsp(document)); // an API the page's CSP does not name is refused before any request
  config = loaded;
  setText(el.serverUrl, config.apiBaseUrl);
} catch (e) {
  setText(el.serverUrl, "not configured");
  alerts.show(e);
}
