// In-process MLS figures of the client core's WebAssembly build (clients/wasm), next to ts-mls on the same engine:
// the same code runs in Node (bench/wasm.mjs) and, bundled by esbuild, in Chromium (bench/wasm-browser.mjs). No
// network, no store; one run, medians in ms.
//   - encrypt / decrypt a 1 KiB text (`encryptText` / `readRow`, which includes the row's JSON and base64);
//   - process another member's commit (a leaf update) in a group of 10 (`readRow` of the commit row);
//   - create a group of 10 and of 100 (`createGroup` + `stageAdd` of 9 / 99 claimed key packages, each checked
//     against its device's certificate, + `commitAccepted`: the commit, Welcome and GroupInfo to post).
import { deviceCertInput, fingerprint, generateKeyPair, spkiPem } from "../dist/index.js";
import { tsMlsInProcess } from "./mls-core.mjs";

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function time(fn) {
  const t = performance.now();
  const r = fn();
  return [performance.now() - t, r];
}
const b64 = (bytes) => btoa(String.fromCharCode(...bytes));
const fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** `core`: the initialized wasm module. Returns {wasm, tsMls} medians. */
export async function wasmFigures(core, { runs = 30, createRuns = 5 } = {}) {
  const now = Date.now();
  const userId = "u_bench";
  const keys = await generateKeyPair(2048);
  const entry = { keyId: keys.keyId, fingerprint: fingerprint(keys.keyId), bits: 2048, publicKey: await spkiPem(keys.publicKey.encryptKey), createdAt: now - 10_000 };
  const listing = { userId, ...entry, keys: [{ ...entry, status: "active" }] };
  const listed = [];
  const devices = [];
  for (let i = 0; i < 101; i++) {
    const device = core.MlsDevice.create(userId, `d${i}`);
    const issuedAt = now - 5_000;
    const input = deviceCertInput({ userId, deviceId: `d${i}`, signatureKey: fromB64(device.signatureKey), issuerKeyId: keys.keyId, createdAt: issuedAt });
    const signature = new Uint8Array(await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 32 }, keys.signKey, input));
    listed.push({ userId, deviceId: `d${i}`, displayName: "", signatureKey: device.signatureKey, status: "active", certificate: { issuerKeyId: keys.keyId, issuedAt, signature: b64(signature) }, createdAt: issuedAt, approvedAt: null, revokedAt: null });
    devices.push(device);
  }
  const trust = new core.Trust();
  trust.observeKeys(userId, "bench", JSON.stringify(listing), now);
  trust.checkDevices(userId, JSON.stringify(listed));
  const claim = (from, to) => JSON.stringify(devices.slice(from, to).map((d) => ({ userId, deviceId: d.deviceId, keyPackage: d.keyPackages(1, false)[0] })));
  const row = (seq, kind, epoch, sender, message) => JSON.stringify({ seq, kind, epoch, senderUserId: userId, senderDeviceId: sender.deviceId, message, createdAt: now });
  const join = (device, welcome, groupId) => {
    device.openWelcome(welcome, groupId, now, now);
    if (!JSON.parse(device.finishWelcome(trust, now)).joined) throw new Error("not joined");
  };
  const out = {};

  // A group of 10: devices 0..9.
  const { groupId } = JSON.parse(devices[0].createGroup(null, now));
  const bundle = JSON.parse(devices[0].stageAdd(groupId, claim(1, 10), trust));
  devices[0].commitAccepted(groupId, now);
  for (const d of devices.slice(1, 10)) join(d, bundle.welcome, groupId);

  const text = "x".repeat(1024);
  const enc = [], dec = [];
  let seq = 1;
  for (let i = 0; i < runs; i++) {
    const [te, message] = time(() => devices[0].encryptText(groupId, text));
    const [td, read] = time(() => devices[1].readRow(groupId, row(++seq, "application", 1, devices[0], message), trust));
    if (JSON.parse(read).message?.text !== text) throw new Error("not read back");
    enc.push(te);
    dec.push(td);
  }
  out.encrypt = median(enc);
  out.decrypt = median(dec);

  // Process a leaf update committed by another member (device 2), as device 1 reads it.
  const commits = [];
  for (let i = 0; i < runs; i++) {
    const epoch = devices[2].epoch(groupId);
    const staged = JSON.parse(devices[2].stageUpdate(groupId));
    devices[2].commitAccepted(groupId, now);
    const commitRow = row(++seq, "commit", epoch + 1, devices[2], staged.commit);
    const [t, read] = time(() => devices[1].readRow(groupId, commitRow, trust));
    if (!JSON.parse(read).done || devices[1].epoch(groupId) !== epoch + 1) throw new Error("commit not processed");
    commits.push(t);
    // The other members follow, so that the group stays usable.
    for (const d of devices.slice(0, 10)) if (d !== devices[1] && d !== devices[2]) d.readRow(groupId, commitRow, trust);
  }
  out.processCommit10 = median(commits);

  for (const size of [10, 100]) {
    const times = [];
    for (let i = 0; i < createRuns; i++) {
      const creator = devices[100];
      const [t] = time(() => {
        const { groupId } = JSON.parse(creator.createGroup(null, now));
        creator.stageAdd(groupId, claim(0, size - 1), trust);
        creator.commitAccepted(groupId, now);
      });
      times.push(t);
    }
    out[`create${size}`] = median(times);
  }
  for (const d of devices) d.free();
  trust.free();
  return { wasm: out, tsMls: await tsMlsInProcess({ runs, createRuns }) };
}

export function describeWasmFigures({ wasm, tsMls }, { runs, createRuns }) {
  const ms = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1)) + " ms";
  return [
    `1 KiB text (${runs} runs): encrypt ${ms(wasm.encrypt)} (ts-mls ${ms(tsMls.encrypt)}), decrypt ${ms(wasm.decrypt)} (ts-mls ${ms(tsMls.decrypt)})`,
    `process a leaf-update commit, group of 10 (${runs} runs): ${ms(wasm.processCommit10)} (ts-mls ${ms(tsMls.processCommit10)})`,
    `create a group of 10 (${createRuns} runs): ${ms(wasm.create10)} (ts-mls add commit + Welcome for 9: ${ms(tsMls.commit9)})`,
    `create a group of 100 (${createRuns} runs): ${ms(wasm.create100)} (ts-mls add commit + Welcome for 99: ${ms(tsMls.commit99)})`,
  ];
}
