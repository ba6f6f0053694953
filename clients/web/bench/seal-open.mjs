// In Chromium (playwright-core, Debian's /usr/bin/chromium): median time to seal a 1 KiB text message (signed, two
// recipients: the receiver and the sender's own key, as Session.sendText does) and to open it again (signature
// verified first), for envelope v1 and v2. The SDK bundle is the one size.mjs measures. One run; medians.
//
// Usage: npm run bench:browser   (env: E2EE_CHROMIUM, BENCH_ITERATIONS (default 200))

import * as esbuild from "esbuild";
import { benchPage } from "./chromium.mjs";
import { sdkOptions } from "../scripts/bundle.mjs";

const N = Number(process.env.BENCH_ITERATIONS || 200);
if (!Number.isInteger(N) || N < 1) throw new Error("BENCH_ITERATIONS must be a positive integer");

const sdk = (await esbuild.build(sdkOptions())).outputFiles[0].text;
// 127.0.0.1 is a secure context (WebCrypto needs one); the route answers it, nothing listens there. Cross-origin
// isolation gives performance.now() 5 µs resolution instead of 100 µs.
const ORIGIN = "http://127.0.0.1:9";
const ISOLATED = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };
const { browser, page, assertNoErrors } = await benchPage();
try {
  await page.route(`${ORIGIN}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === "/sdk.js") return route.fulfill({ contentType: "text/javascript", headers: ISOLATED, body: sdk });
    return route.fulfill({ contentType: "text/html", headers: ISOLATED, body: "<!doctype html><title>bench</title>" });
  });
  await page.goto(`${ORIGIN}/`);
  if (!(await page.evaluate(() => crossOriginIsolated))) throw new Error("the bench page is not cross-origin isolated");
  const result = await page.evaluate(async (n) => {
    const { generateKeyPair, seal, open } = await import("/sdk.js");
    const [alice, bob] = [await generateKeyPair(2048), await generateKeyPair(2048)];
    const plaintext = crypto.getRandomValues(new Uint8Array(1024));
    const median = (xs) => {
      const s = [...xs].sort((a, b) => a - b);
      const m = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
      return Math.round(m * 1000) / 1000; // to the µs
    };
    const out = {};
    for (const version of [1, 2]) {
      const seals = [];
      const opens = [];
      const totals = [];
      for (let i = -20; i < n; i++) {
        // the first 20 rounds warm up (JIT, key caches) and are not counted
        const t0 = performance.now();
        const { json } = await seal({
          version, senderId: "u_alice", messageId: `m_${i + 20}`, createdAt: Date.now(), plaintext, signer: alice,
          recipients: [{ userId: "u_bob", publicKey: bob.publicKey }, { userId: "u_alice", publicKey: alice.publicKey }],
        });
        const t1 = performance.now();
        const opened = await open(json, { readerPrivateKey: bob.decryptKey, readerKeyId: bob.keyId, senderPublicKey: alice.publicKey });
        const t2 = performance.now();
        if (!opened.signatureVerified || opened.plaintext.length !== 1024) throw new Error("round trip failed");
        if (i < 0) continue;
        seals.push(t1 - t0);
        opens.push(t2 - t1);
        totals.push(t2 - t0);
      }
      out[`v${version}`] = { seal: median(seals), open: median(opens), sealPlusOpen: median(totals) };
    }
    return out;
  }, N);
  assertNoErrors();
  console.log(`Chromium ${browser.version()}, 2048-bit RSA keys, 1 KiB plaintext, signed, 2 recipients, ${N} rounds (medians, ms):`);
  for (const [v, r] of Object.entries(result)) {
    console.log(`  ${v}: seal ${r.seal.toFixed(3)}  open ${r.open.toFixed(3)}  seal+open ${r.sealPlusOpen.toFixed(3)}`);
  }
  console.log(JSON.stringify({ chromium: browser.version(), iterations: N, medianMs: result }));
} finally {
  await browser.close();
}
