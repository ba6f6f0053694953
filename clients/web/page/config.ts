// The page's configuration: config.json next to index.html (scripts/serve.mjs writes it; a static host serves a
// file). Only config.json, not a query parameter: a link must not be able to point the page, and the password
// typed into it, at another server.

import { ConfigError } from "./errors.js";

export interface PageConfig {
  /** Base URL of the API (the part before /api/...). */
  apiBaseUrl: string;
  /** Pause between two inbox polls. */
  pollIntervalMs: number;
  /** Messages per history page ("load older"). */
  historyPageSize: number;
}

const DEFAULTS = { pollIntervalMs: 3000, historyPageSize: 20 };

function int(v: unknown, name: string, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`config.json: ${name} must be an integer from ${min} to ${max}`);
  }
  return v;
}

/** Checks a parsed config.json; throws ConfigError naming the first bad field. */
export function parseConfig(raw: unknown): PageConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new ConfigError("config.json is not a JSON object");
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !["apiBaseUrl", "pollIntervalMs", "historyPageSize"].includes(k));
  if (unknown.length) throw new ConfigError(`config.json: unknown field ${unknown.join(", ")}`);
  if (typeof o.apiBaseUrl !== "string") throw new ConfigError("config.json: apiBaseUrl (the API's base URL) is missing");
  let url: URL;
  try {
    url = new URL(o.apiBaseUrl);
  } catch {
    throw new ConfigError("config.json: apiBaseUrl is not a URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new ConfigError("config.json: apiBaseUrl must be http(s)");
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError("config.json: apiBaseUrl must not contain credentials, a query or a fragment");
  }
  return {
    apiBaseUrl: url.href.replace(/\/+$/, ""),
    pollIntervalMs: int(o.pollIntervalMs, "pollIntervalMs", 250, 60000, DEFAULTS.pollIntervalMs),
    historyPageSize: int(o.historyPageSize, "historyPageSize", 1, 100, DEFAULTS.historyPageSize),
  };
}

/**
 * Checks that the page's Content-Security-Policy (`csp`, the content of its <meta>) lets it connect to the API of
 * `cfg`: connect-src must list the API's origin (filled in at build time from E2EE_API_ORIGIN, or by serve.mjs;
 * scripts/csp.mjs). A config.json naming another API is refused here with a clear error, rather than by the browser
 * at the first request; so is every API while the build's placeholder is still there.
 */
export function checkApiAllowed(cfg: PageConfig, csp: string | null): void {
  const sources = /(?:^|;)\s*connect-src\s+([^;]*)/i.exec(csp ?? "")?.[1]!.trim().split(/\s+/) ?? [];
  const origin = new URL(cfg.apiBaseUrl).origin;
  if (sources.includes("__E2EE_API_ORIGIN__")) {
    throw new ConfigError("This page was built without its API origin: build it with E2EE_API_ORIGIN set, or serve it with scripts/serve.mjs.");
  }
  if (!sources.includes(origin)) {
    const allowed = sources.filter((s) => s[0] !== "'").join(", ") || "none";
    throw new ConfigError(`config.json names the API at ${origin}, but this page may connect only to ${allowed} (its Content-Security-Policy): nothing was sent.`);
  }
}

/** The content of the page's CSP <meta>, null without one. */
export function pageCsp(doc: Document): string | null {
  return doc.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute("content") ?? null;
}

export async function loadConfig(url = "config.json"): Promise<PageConfig> {
  let res: Response;
  try {
    res = await fetch(url, { cache: "no-store" });
  } catch {
    throw new ConfigError(`could not load ${url}, which tells the page where the API is`);
  }
  if (!res.ok) throw new ConfigError(`could not load ${url} (HTTP ${res.status}), which tells the page where the API is`);
  let raw: unknown;
  try {
    raw = await res.json();
  } catch {
    throw new ConfigError(`${url} is not JSON`);
  }
  return parseConfig(raw);
}
