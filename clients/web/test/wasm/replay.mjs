// Replays one scenario of tests/vectors/client/ (format in its README) through the WebAssembly build of the client
// core, as clients/core/tests/vectors.rs does natively: what the server answered goes in, step by step, and the
// decisions the core makes must be the recorded ones. Runs unchanged in Node and in Chromium (no Node APIs here):
// `core` is the module of clients/web/wasm/e2ee_client_wasm.js, initialized.

/** The steps whose decision differs from the recorded one: [{step, expected, decided}] (empty: all agree). */
export function replay(core, scenario) {
  if (scenario.format !== "e2ee.client-vector.v1") throw new Error(`${scenario.name}: unknown format ${scenario.format}`);
  const trust = new core.Trust();
  const mismatches = [];
  const check = (step, expected, decided) => {
    if (JSON.stringify(expected) !== JSON.stringify(decided)) mismatches.push({ step, expected, decided });
  };
  try {
    scenario.steps.forEach((step, index) => {
      const at = step.at;
      if (step.keys) {
        trust.observeKeys(step.keys.userId, "", JSON.stringify(step.keys.answer), at);
      } else if (step.devices) {
        const { userId, answer, expect } = step.devices;
        const decided = JSON.parse(trust.checkDevices(userId, JSON.stringify(answer)));
        check(index, sorted(expect), sorted(decided));
      } else if (step.accept) {
        trust.accept(step.accept.userId, "", step.accept.keyId, at);
      } else if (step.contact) {
        const contact = JSON.parse(trust.contact(step.contact.userId) ?? "null");
        const decided = contact && {
          pinnedKeyId: contact.pinnedKeyId,
          trustedKeyIds: contact.trustedKeyIds,
          safetyNumber: contact.safetyNumber,
        };
        check(index, step.contact.expect, decided);
      } else if (step.welcome) {
        const w = step.welcome;
        const outcome = JSON.parse(
          trust.decideWelcome(w.me.userId, w.me.deviceId, w.labelledGroupId, JSON.stringify(w.opened), w.held, w.storedAt, at),
        );
        const decided = { joined: outcome.joined };
        if (!outcome.joined) {
          decided.refused = outcome.refused;
          if (outcome.member !== undefined) decided.member = outcome.member;
          decided.final = outcome.final;
        }
        check(index, sorted(w.expect), sorted(decided));
      } else if (step.commit) {
        const { pending, log, logComplete, expect } = step.commit;
        const json = JSON.stringify(pending);
        let decided = null;
        for (const [row, entry] of log.entries()) {
          const resolution = core.lostCommitResolution(json, entry.kind, entry.epoch, entry.sha256);
          if (resolution !== "keep") {
            decided = { resolution, row };
            break;
          }
        }
        decided ??= { resolution: core.lostCommitAtEndOfLog(json, logComplete) };
        check(index, sorted(expect), sorted(decided));
      } else {
        throw new Error(`${scenario.name}: step ${index} has no known action: ${Object.keys(step).join(", ")}`);
      }
    });
  } finally {
    trust.free();
  }
  return mismatches;
}

/** The object with its keys sorted (nested), so that key order does not count. */
function sorted(value) {
  if (Array.isArray(value)) return value.map(sorted);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted(value[k])]));
}
