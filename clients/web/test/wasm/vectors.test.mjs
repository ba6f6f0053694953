// Every client vector (tests/vectors/client/) replayed through the WebAssembly build of the client core in Node:
// the browser reaches the same decisions as the Rust SDK and the CLI because it runs the same code.
// test/browser/wasm.test.mjs replays them in Chromium.

import assert from "node:assert/strict";
import { test } from "node:test";
import { loadCore, scenarios } from "./load.mjs";
import { replay } from "./replay.mjs";

const { core } = await loadCore();
const all = scenarios();

test("the corpus holds the trust, Welcome and commit scenarios", () => {
  assert.ok(all.length >= 15, `${all.length} scenarios`);
  const kinds = new Set(all.flatMap(({ scenario }) => scenario.steps.flatMap((s) => Object.keys(s).filter((k) => k !== "at"))));
  for (const kind of ["keys", "devices", "accept", "contact", "welcome", "commit"]) assert.ok(kinds.has(kind), kind);
});

for (const { file, scenario } of all) {
  test(`vector ${file}`, () => {
    assert.deepEqual(replay(core, scenario), [], scenario.description);
  });
}

test("a decision that differs from the recorded one is reported", () => {
  // The replay itself must be able to fail: flip one recorded device decision and it is caught.
  const { scenario } = all.find(({ scenario }) => scenario.steps.some((s) => s.devices?.expect.trusted.length));
  const changed = structuredClone(scenario);
  const step = changed.steps.find((s) => s.devices?.expect.trusted.length);
  const device = step.devices.expect.trusted.shift();
  step.devices.expect.refused[device] = "bad_signature";
  assert.equal(replay(core, changed).length, 1);
});

test("bad input is an Error with a code, never a panic", () => {
  const trust = new core.Trust();
  assert.throws(() => trust.observeKeys("u_a", "", "{not json", 1), (e) => e.code === "invalid_input" && e.name === "E2eeCoreError");
  assert.throws(() => trust.accept("u_a", "", "00", 1), (e) => e.code === "invalid_input");
  assert.throws(() => trust.checkDevices("u_a", "[{}]"), (e) => e.code === "invalid_input");
  assert.throws(() => core.lostCommitResolution("{}", "commit", 1, "00"), (e) => e.code === "invalid_input");
  assert.throws(() => trust.observeKeys("u_a", "", "{}", Number.NaN), (e) => e.code === "invalid_input");
  assert.throws(() => core.MlsDevice.load(new Uint8Array([0, 0, 0, 9, 1])), (e) => e.code === "damaged_state");
  assert.throws(() => core.MlsDevice.create("u_a", "bad/id"), (e) => e.code === "invalid_input");
  // Still usable after the errors.
  assert.equal(trust.contact("u_a"), undefined);
  trust.free();
});
