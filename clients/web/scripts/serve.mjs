// Local serving of the chat page, no dependencies (Node 20):
//  - the static files of dist-page/ on 127.0.0.1:$E2EE_WEB_PORT (8080), plus /config.json telling the page where
//    the API is; index.html gets that API's origin in its Content-Security-Policy when the build left it open, and
//    every answer the security headers of scripts/csp.mjs (frame-ancestors 'none', nosniff, no-referrer);
//  - a CORS front on 127.0.0.1:$E2EE_CORS_PORT (8081) forwarding to the API ($E2EE_API, default
//    http://127.0.0.1:9000, i.e. scripts/serve.sh). `cargo lambda watch` adds no CORS headers, so without this
//    front a page on another origin could not call it; the front behaves as the SAM template's HttpApi
//    CorsConfiguration makes API Gateway behave, read from template.yaml itself so the two cannot drift.
//
// API Gateway's documented behaviour, reproduced here: it answers every preflight (OPTIONS with Origin and
// Access-Control-Request-Method) itself, without calling a function; it adds the configured headers only when the
// request's Origin is allowed; it ignores CORS headers returned by the backend; no cookies (credentials false).
//
// Usage: node scripts/serve.mjs   (env: E2EE_API, E2EE_WEB_PORT, E2EE_CORS_PORT, E2EE_CORS_ORIGINS (comma-separated,
// default the template's CorsAllowedOrigins default), E2EE_POLL_MS, E2EE_PAGE_SIZE, E2EE_WEB_ROOT).

import { readFileSync, statSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { API_ORIGIN_PLACEHOLDER, SECURITY_HEADERS, stampApiOrigin } from "./csp.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const TEMPLATE = join(HERE, "..", "..", "..", "template.yaml");
const HOST = "127.0.0.1";

// ---------------------------------------------------------------------------------------------------------------
// The CORS configuration of template.yaml
// ---------------------------------------------------------------------------------------------------------------

const CORS_KEYS = ["AllowOrigins", "AllowMethods", "AllowHeaders", "ExposeHeaders", "MaxAge", "AllowCredentials"];

/** The lines indented deeper than the line matching `head` (a YAML block), without comments and blank lines. */
function block(lines, head) {
  const at = lines.findIndex((l) => head.test(l));
  if (at < 0) throw new Error(`template.yaml: no line matching ${head}`);
  const indent = lines[at].search(/\S/);
  const out = [];
  for (const l of lines.slice(at + 1)) {
    if (/^\s*(#.*)?$/.test(l)) continue;
    if (l.search(/\S/) <= indent) break;
    out.push(l);
  }
  return out;
}

function scalar(v) {
  const m = /^"(.*)"$/.exec(v) ?? /^'(.*)'$/.exec(v);
  return m ? m[1] : v;
}

function list(v, what) {
  const m = /^\[(.*)\]$/.exec(v);
  if (!m) throw new Error(`template.yaml: ${what} is not a [flow, list]`);
  return m[1].split(",").map((s) => scalar(s.trim())).filter((s) => s !== "");
}

/** {origins, methods, headers, exposeHeaders, maxAge, credentials} as the template configures API Gateway. */
export function readCorsConfig(templatePath = TEMPLATE) {
  const lines = readFileSync(templatePath, "utf8").split("\n");
  const entries = new Map();
  for (const l of block(lines, /^\s+CorsConfiguration:\s*$/)) {
    const m = /^\s+(\w+):\s*(.+?)\s*$/.exec(l);
    // Anything this reader does not understand must fail loudly: a silently ignored setting is a drift.
    if (!m || !CORS_KEYS.includes(m[1])) throw new Error(`template.yaml: unexpected CorsConfiguration line: ${l.trim()}`);
    entries.set(m[1], m[2]);
  }
  let origins;
  const o = entries.get("AllowOrigins");
  if (o === undefined) throw new Error("template.yaml: CorsConfiguration has no AllowOrigins");
  const ref = /^!Ref\s+(\w+)$/.exec(o);
  if (ref) {
    const def = block(lines, new RegExp(`^\\s+${ref[1]}:\\s*$`)).map((l) => /^\s+Default:\s*(.+?)\s*$/.exec(l)).find(Boolean);
    if (!def) throw new Error(`template.yaml: parameter ${ref[1]} has no Default`);
    origins = scalar(def[1]).split(",").map((s) => s.trim()).filter((s) => s !== "");
  } else {
    origins = list(o, "AllowOrigins");
  }
  const maxAge = entries.get("MaxAge");
  const credentials = entries.get("AllowCredentials") ?? "false";
  if (!/^(true|false)$/.test(credentials)) throw new Error("template.yaml: AllowCredentials is not true or false");
  return {
    origins,
    methods: list(entries.get("AllowMethods") ?? "[]", "AllowMethods"),
    headers: list(entries.get("AllowHeaders") ?? "[]", "AllowHeaders"),
    exposeHeaders: list(entries.get("ExposeHeaders") ?? "[]", "ExposeHeaders"),
    maxAge: maxAge === undefined ? null : Number(maxAge),
    credentials: credentials === "true",
  };
}

/** API Gateway's origin patterns: exact, "*", or a scheme wildcard such as "https://*". */
function originAllowed(cors, origin) {
  return cors.origins.some((o) => o === "*" || o === origin || (o.endsWith("://*") && origin.startsWith(o.slice(0, -1))));
}

function allowOriginHeaders(cors, origin) {
  const h = { "access-control-allow-origin": cors.origins.includes("*") && !cors.credentials ? "*" : origin };
  if (cors.credentials) h["access-control-allow-credentials"] = "true";
  return h;
}

// ---------------------------------------------------------------------------------------------------------------
// The CORS front
// ---------------------------------------------------------------------------------------------------------------

// Hop-by-hop headers are the connection's own, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"]);

function corsFront(upstream, cors) {
  const target = new URL(upstream);
  const client = target.protocol === "https:" ? https : http;
  return http.createServer((req, res) => {
    const origin = typeof req.headers.origin === "string" ? req.headers.origin : null;
    const allowed = origin !== null && originAllowed(cors, origin);
    if (req.method === "OPTIONS" && origin !== null && req.headers["access-control-request-method"] !== undefined) {
      const h = {};
      if (allowed) {
        Object.assign(h, allowOriginHeaders(cors, origin), {
          "access-control-allow-methods": cors.methods.join(","),
          "access-control-allow-headers": cors.headers.join(","),
        });
        if (cors.maxAge !== null) h["access-control-max-age"] = String(cors.maxAge);
      }
      res.writeHead(204, h).end();
      return;
    }
    const extra = allowed ? allowOriginHeaders(cors, origin) : {};
    if (allowed && cors.exposeHeaders.length) extra["access-control-expose-headers"] = cors.exposeHeaders.join(",");
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !HOP_BY_HOP.has(k)));
    const up = client.request(new URL(req.url ?? "/", target), { method: req.method, headers }, (ur) => {
      const out = Object.fromEntries(
        Object.entries(ur.headers).filter(([k]) => !HOP_BY_HOP.has(k) && !k.startsWith("access-control-")),
      );
      res.writeHead(ur.statusCode ?? 502, { ...out, ...extra });
      ur.pipe(res);
    });
    up.on("error", (e) => {
      // Only the failure's kind is logged: never a body, token or header.
      console.error(`serve.mjs: the API at ${target.origin} did not answer ${req.method} ${new URL(req.url ?? "/", target).pathname}: ${e.code ?? e.message}`);
      if (res.headersSent) return void res.destroy();
      const body = JSON.stringify({ error: { code: "bad_gateway", message: `the API at ${target.origin} did not answer` } });
      res.writeHead(502, { ...extra, "content-type": "application/json" }).end(body);
    });
    req.pipe(up);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The static files
// ---------------------------------------------------------------------------------------------------------------

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".png": "image/png",
};

function staticServer(root, pageConfig) {
  const base = resolve(root);
  const config = JSON.stringify(pageConfig);
  // frame-ancestors 'none', nosniff, no-referrer (scripts/csp.mjs): the headers a static host must send too
  const common = { "cache-control": "no-store", ...SECURITY_HEADERS };
  return http.createServer((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { ...common, allow: "GET, HEAD" }).end();
      return;
    }
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      res.writeHead(400, common).end("bad path\n");
      return;
    }
    if (path === "/config.json") {
      res.writeHead(200, { ...common, "content-type": TYPES[".json"] }).end(req.method === "HEAD" ? undefined : config);
      return;
    }
    const file = resolve(base, "." + (path.endsWith("/") ? `${path}index.html` : path));
    let body;
    try {
      if (path.includes("\0") || !file.startsWith(base + sep) || !statSync(file).isFile()) throw new Error("not a file");
      body = readFileSync(file);
      // A page built without E2EE_API_ORIGIN: its CSP gets the origin of the API this server's config.json names.
      if (extname(file) === ".html" && body.includes(API_ORIGIN_PLACEHOLDER)) body = Buffer.from(stampApiOrigin(body.toString("utf8"), pageConfig.apiBaseUrl));
    } catch {
      res.writeHead(404, { ...common, "content-type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    res.writeHead(200, { ...common, "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    res.end(req.method === "HEAD" ? undefined : body);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------------------------

function listen(server, port) {
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, HOST, () => ok(server.address().port));
  });
}

/**
 * Starts both servers. `webPort`/`corsPort` 0 pick free ports. Returns their URLs and close().
 * `page` is the page's extra configuration (pollIntervalMs, historyPageSize), written into /config.json.
 * `allowPage` adds the static server's own origin to the allowed ones once its port is known.
 */
export async function startServers({ api, webRoot, webPort, corsPort, origins, page = {}, allowPage = false }) {
  const cors = readCorsConfig();
  if (origins !== undefined) cors.origins = origins;
  const front = corsFront(api, cors);
  const frontPort = await listen(front, corsPort);
  const apiUrl = `http://${HOST}:${frontPort}`;
  const files = staticServer(webRoot, { apiBaseUrl: apiUrl, ...page });
  let pagePort;
  try {
    pagePort = await listen(files, webPort);
  } catch (e) {
    front.close();
    throw e;
  }
  if (allowPage) cors.origins = [...cors.origins, `http://${HOST}:${pagePort}`]; // read per request by the front
  const close = () => Promise.all([front, files].map((s) => new Promise((ok) => (s.closeAllConnections(), s.close(() => ok())))));
  return { pageUrl: `http://${HOST}:${pagePort}/`, apiUrl, cors, close };
}

function intEnv(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  if (!/^\d+$/.test(v)) throw new Error(`${name} must be a non-negative integer, not ${JSON.stringify(v)}`);
  return Number(v);
}

async function main() {
  const webRoot = process.env.E2EE_WEB_ROOT || join(HERE, "..", "dist-page");
  try {
    statSync(join(webRoot, "index.html"));
  } catch {
    throw new Error(`${webRoot}/index.html not found: run npm run build:page first`);
  }
  const page = {};
  const poll = intEnv("E2EE_POLL_MS", undefined);
  const size = intEnv("E2EE_PAGE_SIZE", undefined);
  if (poll !== undefined) page.pollIntervalMs = poll;
  if (size !== undefined) page.historyPageSize = size;
  const origins = process.env.E2EE_CORS_ORIGINS ? process.env.E2EE_CORS_ORIGINS.split(",").map((s) => s.trim()).filter(Boolean) : undefined;
  const api = process.env.E2EE_API || "http://127.0.0.1:9000";
  const s = await startServers({ api, webRoot, webPort: intEnv("E2EE_WEB_PORT", 8080), corsPort: intEnv("E2EE_CORS_PORT", 8081), origins, page });
  console.log(`page: ${s.pageUrl}`);
  console.log(`api:  ${s.apiUrl} (CORS front for ${api}; allowed origins ${s.cors.origins.join(", ")})`);
  const stop = () => s.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => {
    console.error(`serve.mjs: ${e.message}`);
    process.exit(1);
  });
}
