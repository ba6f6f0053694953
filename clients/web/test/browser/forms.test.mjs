// The page's input checks and error display: a bad value is explained next to its field (which gets focus and
// aria-invalid), a refusal of the server appears in the alert region (role="alert"), and a page whose origin the
// API's CORS settings do not allow cannot call it at all.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiClient, connect, fingerprint, generateKeyPair } from "../../dist/index.js";
import { assertClean, browserSuite, login, needs, PASSWORD, rand, register, SERVER } from "./helpers.mjs";

const skip = needs("server", "chromium");
const suite = browserSuite(skip);

const focused = (user) => user.page.evaluate(() => document.activeElement?.id);
const alerts = (user) => user.page.locator("#alerts").getByRole("alert");

test("bad input is explained at its field; server refusals are shown as alerts", { skip, timeout: 120000 }, async () => {
  const user = await suite.open("user", await suite.serve());
  const { page } = user;
  const name = page.getByLabel("Username", { exact: true });
  const password = page.getByLabel("Password", { exact: true });

  // keyboard only: type, Tab, Enter submits the default button (Log in)
  await name.focus();
  await page.keyboard.type("x");
  await page.keyboard.press("Tab");
  await page.keyboard.type("whatever");
  await page.keyboard.press("Enter");
  await page.locator("#login-username-error", { hasText: "⚠ A username has 3–32 letters, digits, _ . or -." }).waitFor();
  assert.equal(await name.getAttribute("aria-invalid"), "true");
  assert.equal(await focused(user), "login-username");
  await page.keyboard.type("yz_ok");
  assert.equal(await page.locator("#login-username-error").textContent(), "", "editing clears the error");
  assert.equal(await name.getAttribute("aria-invalid"), null);

  await password.fill("");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator("#login-password-error", { hasText: "Enter your password." }).waitFor();
  assert.equal(await focused(user), "login-password");

  // an existing account, a wrong password: the server's answer, in an alert
  const taken = `taken_${rand()}`;
  await new ApiClient({ baseUrl: SERVER }).register(taken, PASSWORD);
  await name.fill(taken);
  await password.fill("not the password at all");
  await page.getByRole("button", { name: "Log in" }).click();
  await alerts(user).filter({ hasText: "(invalid_credentials, HTTP 401)" }).waitFor();
  await page.getByRole("button", { name: "Dismiss" }).click();
  assert.equal(await alerts(user).count(), 0);
  assert.equal(await focused(user), "main", "focus goes back to the content");
  await page.getByRole("button", { name: "Create account" }).click();
  await alerts(user).filter({ hasText: "(username_taken, HTTP 409)" }).waitFor();
  await page.getByRole("button", { name: "Dismiss" }).click();

  // signed in: adding nobody, or oneself
  const me = `forms_${rand()}`;
  await name.fill(me);
  await password.fill(PASSWORD);
  await register(user, me);
  const add = page.getByLabel("Add a contact by username");
  await add.fill(`nobody_${rand()}`);
  await add.press("Enter");
  await alerts(user).filter({ hasText: "(user_not_found, HTTP 404)" }).waitFor();
  await page.getByRole("button", { name: "Dismiss" }).click();
  await add.fill(me);
  await add.press("Enter");
  await page.locator("#add-contact-username-error", { hasText: "That is your own account." }).waitFor();
  assert.equal(await focused(user), "add-contact-username");

  await assertClean(user, [
    { method: "POST", path: /^\/api\/auth\/login$/, status: 401 },
    { method: "POST", path: /^\/api\/auth\/register$/, status: 409 },
    { method: "GET", path: /^\/api\/users\/nobody_/, status: 404 },
  ]);
});

test("a page on an origin the API does not allow cannot call it (CORS as API Gateway applies it)", { skip, timeout: 60000 }, async () => {
  const user = await suite.open("outsider", await suite.serve({ allowPage: false }));
  await user.page.getByLabel("Username", { exact: true }).fill(`outsider_${rand()}`);
  await user.page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await user.page.getByRole("button", { name: "Log in" }).click();
  await alerts(user).filter({ hasText: "not allow this page's origin (CORS)" }).waitFor();
  // exactly Chromium's CORS refusal of the preflight, nothing else
  const { consoleErrors, failedRequests } = user.log;
  assert.equal(consoleErrors.length, 2, consoleErrors.join(" | "));
  assert.match(consoleErrors[0], /has been blocked by CORS policy: Response to preflight request doesn't pass access control check: No 'Access-Control-Allow-Origin' header/);
  assert.match(consoleErrors[1], /^Failed to load resource: net::ERR_FAILED$/);
  assert.equal(failedRequests.length, 1);
  assert.match(failedRequests[0], /^POST http:\/\/127\.0\.0\.1:\d+\/api\/auth\/login: net::ERR_FAILED$/);
  assert.deepEqual(user.log.pageErrors, []);
});

test("a browser without the account's key: the key step's input errors, a new key authorized by the password, kept across log out and in", { skip, timeout: 120000 }, async () => {
  const serve = await suite.serve();
  // an account whose key lives elsewhere (an SDK session in Node)
  const name = `elsewhere_${rand()}`;
  const elsewhere = await connect(new ApiClient({ baseUrl: SERVER }), name, PASSWORD, { register: true });
  const oldKey = await generateKeyPair(2048);
  await elsewhere.registerKey(oldKey);

  const user = await suite.open("tab", serve);
  const { page } = user;
  const fieldError = (id) => page.locator(`#${id}-error`).textContent();
  const fp = await login(user, name, async () => {
    assert.match(await page.locator("#key-situation").textContent(), new RegExp(`This browser holds no key of your account\\. Your account's key has the fingerprint ${fingerprint(oldKey.keyId)}`));
    assert.equal(await focused(user), "key-title");
    const generate = page.getByRole("button", { name: "Generate key and backup file" });
    await generate.click();
    await page.locator("#keygen-password-error", { hasText: "Enter your password: it authorizes the new key." }).waitFor();
    assert.equal(await focused(user), "keygen-password");
    await page.getByLabel("Your password").fill(PASSWORD);
    await page.getByLabel("Passphrase for the backup file").fill("short");
    await generate.click();
    await page.locator("#keygen-passphrase-error", { hasText: "at least 8 characters" }).waitFor();
    assert.equal(await page.getByLabel("Passphrase for the backup file").getAttribute("aria-invalid"), "true");
    await page.getByLabel("Passphrase for the backup file").fill("long enough passphrase");
    await page.getByLabel("Repeat the passphrase").fill("another passphrase");
    await generate.click();
    await page.locator("#keygen-passphrase2-error", { hasText: "The two passphrases differ." }).waitFor();
    await page.getByRole("button", { name: "Import key" }).click();
    assert.match(await fieldError("import-file"), /Choose the key file\./);
    await page.getByRole("button", { name: "Generate key without backup" }).click();
  });
  assert.notEqual(fp, fingerprint(oldKey.keyId));
  const notice = page.locator("#key-notice");
  assert.match(await notice.textContent(), /a new key was registered, authorized by your password/);
  assert.equal(await page.locator("#login-password").inputValue(), "", "the password is not kept in the form");
  assert.equal(await page.getByLabel("Your password").inputValue(), "", "nor in the key step");
  // the directory now lists the tab's key as active
  const active = await elsewhere.api.publicKey(elsewhere.userId);
  assert.equal(active.fingerprint, fp);

  await page.getByRole("button", { name: "Log out" }).click();
  assert.equal(await focused(user), "login-title");
  assert.equal(await page.locator("#account-bar").isHidden(), true);
  assert.equal(await page.locator("#app-view").isHidden(), true);
  assert.equal(await login(user, name), fp, "same browser, same key: no key step");

  assert.equal(await notice.isHidden(), true);
  await assertClean(user);
});
