// What the Chromium benches share: Debian's Chromium (E2EE_CHROMIUM), launched headless by playwright-core, and a
// page whose errors (page errors, console errors) are collected so that a bench refuses figures from a broken run.

import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.E2EE_CHROMIUM || "/usr/bin/chromium";

/** Launches Chromium with one page; `assertNoErrors()` throws if the page reported any error so far. */
export async function benchPage() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set E2EE_CHROMIUM)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  const assertNoErrors = () => {
    if (errors.length) throw new Error(`errors in the page: ${errors.join(" | ")}`);
  };
  return { browser, page, assertNoErrors };
}
