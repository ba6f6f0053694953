// What the served tests share: the API under test (E2EE_SERVER), the Rust CLI (E2EE_CLI, else the debug build of
// this repository, as tests/kit/src/cli.rs finds it), the skip-or-fail rule, and a runner for CLI commands.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const SERVER = process.env.E2EE_SERVER;
const built = fileURLToPath(new URL("../../../../target/debug/e2ee", import.meta.url));
export const CLI = process.env.E2EE_CLI ?? (existsSync(built) ? built : undefined);
export const PASSWORD = "correct horse battery staple 42";
/** Makes this run's usernames unique on a shared server. */
export const suffix = Math.random().toString(36).slice(2, 10);

/**
 * The `skip` option of a file's tests: false when the server (and, with `cli`, the CLI) is there, else the reason.
 * With CI=true a missing one is a failing test instead, so CI cannot pass by skipping.
 */
export function requires({ cli = false } = {}) {
  const missing = [!SERVER && "E2EE_SERVER (the API base URL)", cli && !CLI && "E2EE_CLI (the e2ee binary, or build target/debug/e2ee)"].filter(Boolean);
  if (missing.length === 0) return false;
  if (process.env.CI === "true") test(`${missing.join(" and ")} required when CI=true`, () => assert.fail(`set ${missing.join(" and ")}`));
  return `${missing.join(" and ")} not set`;
}

/**
 * A runner of `e2ee [--json] --profile NAME args...` with its own profile directory and `env` added (secrets for
 * --password-env / --passphrase-env); returns stdout, parsed when `json`. A failing command fails the test with its
 * stderr.
 */
export function cliRunner(profileDir, env = {}) {
  return (profile, args, { stdin = "", json = true } = {}) => {
    assert.ok(CLI && existsSync(CLI), `E2EE_CLI=${CLI} does not exist`);
    const full = { ...process.env, E2EE_SERVER: SERVER, E2EE_PROFILE_DIR: profileDir, ...env };
    delete full.E2EE_PROFILE;
    const r = spawnSync(CLI, [...(json ? ["--json"] : []), "--profile", profile, ...args], { env: full, input: stdin, encoding: "utf8", maxBuffer: 1 << 24 });
    assert.equal(r.status, 0, `e2ee ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
    return json ? JSON.parse(r.stdout) : r.stdout;
  };
}
