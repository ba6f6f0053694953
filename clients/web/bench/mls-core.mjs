// The MLS figures of the web SDK, one run, medians; the same code runs in Node (bench/mls.mjs) and, bundled by
// esbuild, in Chromium (bench/mls-browser.mjs). Through the served API: a 1 KiB text sent by one device and read by
// another; a group created with 10 members (their key packages uploaded beforehand). In process, for comparison,
// ts-mls (the second MLS implementation of tests/interop/mls; no network, no store): the same message encrypted and
// decrypted, and the add commit + Welcome for 9 members (the core's own in-process figures: bench/wasm-core.mjs).
import { ApiClient, MlsDevice, Session, generateKeyPair } from "../dist/index.js";
import {
  CLIENT_CONFIG, acceptAll, createApplicationMessage, createCommit, createGroup, emptyPskIndex, joinGroup, newKeyPackage, newSignatureKeys,
  processMessage, suite,
} from "../../../tests/interop/mls/tsmls.mjs";

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(fn) {
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
}

/**
 * `server`: the API's base URL; `newStore()`: the KvStore of each device (memory in Node, IndexedDB in a browser);
 * `runs` send/read rounds and in-process rounds, `createRuns` group creations. Returns medians in ms.
 */
export async function mlsFigures({ server, newStore, runs = 30, createRuns = 5 }) {
  const suffix = Math.random().toString(36).slice(2, 8);
  const text = "x".repeat(1024);
  async function device(name) {
    const api = new ApiClient({ baseUrl: server });
    const username = `${name}_${suffix}`;
    await api.register(username, "correct horse battery staple 42");
    const { userId } = await api.login(username, "correct horse battery staple 42");
    const session = new Session({ api, userId });
    await session.registerKey(await generateKeyPair(2048));
    const { device } = await MlsDevice.init({ session, kv: await newStore(), deviceId: "bench", username });
    return { userId, device };
  }
  const out = {};

  // --- served: send and read a 1 KiB text ---------------------------------------------------------------------
  const [a, b] = await Promise.all([device("bench_a"), device("bench_b")]);
  const g = await a.device.createGroup([b.userId]);
  await b.device.sync();
  const send = [], read = [], both = [];
  for (let i = 0; i < runs; i++) {
    const [ts] = await time(() => a.device.send(g.groupId, text));
    const [tr, r] = await time(() => b.device.read(g.groupId));
    if (r.messages.length !== 1 || r.messages[0].text !== text) throw new Error("not read back");
    send.push(ts);
    read.push(tr);
    both.push(ts + tr);
  }
  out.served = { send: median(send), read: median(read), sendPlusRead: median(both) };

  // --- served: create a group of 10 (key packages uploaded beforehand) -----------------------------------------
  const others = [];
  for (let i = 0; i < 9; i++) others.push(await device(`bench_m${i}`));
  const creates = [];
  for (let i = 0; i < createRuns; i++) {
    const [t, r] = await time(() => a.device.createGroup(others.map((o) => o.userId)));
    if (r.members.length !== 10) throw new Error(`${r.members.length} members`);
    creates.push(t);
  }
  out.served.create10 = median(creates);

  out.inProcess = await tsMlsInProcess({ runs, createRuns });
  return out;
}

/** ts-mls alone, in process (no network, no store): a 1 KiB text encrypted and decrypted (`runs` times), the add
 * commit + Welcome for 9 and for 99 members (`createRuns` times), and a leaf-update commit processed in a group of
 * 10 (`runs` times). Medians in ms. */
export async function tsMlsInProcess({ runs = 30, createRuns = 5 }) {
  const text = "x".repeat(1024);
  const cs = await suite();
  const id = (n) => ({ userId: `u_${n}`, deviceId: "d" });
  const kpA = await newKeyPackage(newSignatureKeys(), id("a"), false);
  const kpB = await newKeyPackage(newSignatureKeys(), id("b"), false);
  let sa = await createGroup(new Uint8Array(16).fill(1), kpA.publicPackage, kpA.privatePackage, [], cs, CLIENT_CONFIG);
  const c = await createCommit({ state: sa, cipherSuite: cs }, { wireAsPublicMessage: true, ratchetTreeExtension: true, extraProposals: [{ proposalType: "add", add: { keyPackage: kpB.publicPackage } }] });
  sa = c.newState;
  let sb = await joinGroup(c.welcome, kpB.publicPackage, kpB.privatePackage, emptyPskIndex, cs, undefined, undefined, CLIENT_CONFIG);
  const enc = [], dec = [];
  const bytes = new TextEncoder().encode(JSON.stringify({ type: "text", text }));
  for (let i = 0; i < runs; i++) {
    const [te, m] = await time(() => createApplicationMessage(sa, bytes, cs));
    sa = m.newState;
    const [td, r] = await time(() => processMessage({ wireformat: "mls_private_message", version: "mls10", privateMessage: m.privateMessage }, sb, emptyPskIndex, acceptAll, cs));
    sb = r.newState;
    enc.push(te);
    dec.push(td);
  }
  const out = { encrypt: median(enc), decrypt: median(dec) };
  const members = [];
  for (let i = 0; i < 99; i++) members.push(await newKeyPackage(newSignatureKeys(), id(`m${i}`), false));
  const adds = (n) => members.slice(0, n).map((kp) => ({ proposalType: "add", add: { keyPackage: kp.publicPackage } }));
  for (const n of [9, 99]) {
    const commits = [];
    for (let i = 0; i < createRuns; i++) {
      const kp = await newKeyPackage(newSignatureKeys(), id("creator"), false);
      const s0 = await createGroup(crypto.getRandomValues(new Uint8Array(16)), kp.publicPackage, kp.privatePackage, [], cs, CLIENT_CONFIG);
      const [t] = await time(() => createCommit({ state: s0, cipherSuite: cs }, { wireAsPublicMessage: true, ratchetTreeExtension: true, extraProposals: adds(n) }));
      commits.push(t);
    }
    out[`commit${n}`] = median(commits);
  }
  // A leaf-update commit of one member of a group of 10, processed by another.
  const kpC = await newKeyPackage(newSignatureKeys(), id("committer"), false);
  let committer = await createGroup(new Uint8Array(16).fill(2), kpC.publicPackage, kpC.privatePackage, [], cs, CLIENT_CONFIG);
  const added = await createCommit({ state: committer, cipherSuite: cs }, { wireAsPublicMessage: true, ratchetTreeExtension: true, extraProposals: adds(9) });
  committer = added.newState;
  let reader = await joinGroup(added.welcome, members[0].publicPackage, members[0].privatePackage, emptyPskIndex, cs, undefined, undefined, CLIENT_CONFIG);
  const processed = [];
  for (let i = 0; i < runs; i++) {
    const update = await createCommit({ state: committer, cipherSuite: cs }, { wireAsPublicMessage: true, ratchetTreeExtension: true });
    committer = update.newState;
    const [t, r] = await time(() => processMessage(update.commit, reader, emptyPskIndex, acceptAll, cs));
    reader = r.newState;
    processed.push(t);
  }
  out.processCommit10 = median(processed);
  return out;
}

/** The figures as lines of text. */
export function describeFigures(f, { runs, createRuns }) {
  const ms = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1)) + " ms";
  return [
    `served, 1 KiB text (${runs} runs): send ${ms(f.served.send)}, read ${ms(f.served.read)}, send + read ${ms(f.served.sendPlusRead)}`,
    `served, create a group of 10 (${createRuns} runs): ${ms(f.served.create10)}`,
    `in process (ts-mls), 1 KiB text (${runs} runs): encrypt ${ms(f.inProcess.encrypt)}, decrypt ${ms(f.inProcess.decrypt)}`,
    `in process (ts-mls), add commit + Welcome for 9 members (${createRuns} runs): ${ms(f.inProcess.commit9)}`,
  ];
}
