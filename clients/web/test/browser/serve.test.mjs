// scripts/serve.mjs without a browser or an API: the CORS front against a stand-in upstream (preflights answered
// without calling it, headers exactly as template.yaml configures API Gateway, upstream CORS headers dropped), and
// the static side (config.json, content types, no path outside the root, the security headers, the API origin put
// into the page's CSP).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCorsConfig, startServers } from "../../scripts/serve.mjs";
import { API_ORIGIN_PLACEHOLDER, apiOrigin, SECURITY_HEADERS, stampApiOrigin } from "../../scripts/csp.mjs";

const PAGE_ORIGIN = "http://page.test:8080";
const calls = [];
let upstream;
let servers;
let root;

before(async () => {
  upstream = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      calls.push({ method: req.method, url: req.url, headers: req.headers, body });
      // a backend's own CORS headers, which API Gateway ignores
      res.writeHead(req.url === "/api/missing" ? 404 : 200, { "content-type": "application/json", "access-control-allow-origin": "*", "x-upstream": "yes" });
      res.end(JSON.stringify({ echoed: body }));
    });
  });
  await new Promise((ok) => upstream.listen(0, "127.0.0.1", ok));
  const dir = mkdtempSync(join(tmpdir(), "e2ee-serve-"));
  root = join(dir, "root");
  mkdirSync(root);
  writeFileSync(join(root, "index.html"), `<!doctype html><meta http-equiv="Content-Security-Policy" content="connect-src 'self' ${API_ORIGIN_PLACEHOLDER}"><title>t</title>`);
  writeFileSync(join(root, "built.html"), `<!doctype html><meta http-equiv="Content-Security-Policy" content="connect-src 'self' https://api.example"><title>t</title>`);
  writeFileSync(join(root, "app.js"), "export {};");
  writeFileSync(join(dir, "secret.txt"), "outside the root");
  servers = await startServers({
    api: `http://127.0.0.1:${upstream.address().port}`,
    webRoot: root,
    webPort: 0,
    corsPort: 0,
    origins: [PAGE_ORIGIN],
    page: { pollIntervalMs: 1000 },
  });
});
after(async () => {
  await servers?.close();
  upstream?.close();
});

const cors = (headers) => Object.fromEntries([...headers].filter(([k]) => k.startsWith("access-control-")));

test("the CORS settings are read from template.yaml", () => {
  assert.deepEqual(readCorsConfig(), {
    origins: ["http://127.0.0.1:8080", "http://localhost:8080"],
    methods: ["GET", "POST", "PATCH", "OPTIONS"],
    headers: ["authorization", "content-type"],
    exposeHeaders: [],
    maxAge: 600,
    credentials: false,
  });
});

test("a template setting the reader does not know fails loudly", () => {
  const dir = mkdtempSync(join(tmpdir(), "e2ee-tpl-"));
  const path = join(dir, "template.yaml");
  writeFileSync(path, "Resources:\n  Api:\n    Properties:\n      CorsConfiguration:\n        AllowOrigins: [http://a.test]\n        AllowMethods: [GET]\n        AllowWildcards: true\n");
  assert.throws(() => readCorsConfig(path), /unexpected CorsConfiguration line: AllowWildcards/);
  writeFileSync(path, "Resources:\n  Api:\n    Properties:\n      CorsConfiguration:\n        AllowOrigins: [http://a.test]\n        AllowMethods: [GET]\n        AllowCredentials: true\n");
  assert.equal(readCorsConfig(path).credentials, true);
});

test("a preflight from an allowed origin is answered by the front itself, with the configured headers", async () => {
  const before = calls.length;
  const r = await fetch(`${servers.apiUrl}/api/messages/send`, {
    method: "OPTIONS",
    headers: { origin: PAGE_ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
  });
  assert.equal(r.status, 204);
  assert.deepEqual(cors(r.headers), {
    "access-control-allow-origin": PAGE_ORIGIN,
    "access-control-allow-methods": "GET,POST,PATCH,OPTIONS",
    "access-control-allow-headers": "authorization,content-type",
    "access-control-max-age": "600",
  });
  assert.equal(calls.length, before, "the API was not called");
});

test("a preflight from another origin gets no CORS headers (the browser then refuses the call)", async () => {
  const r = await fetch(`${servers.apiUrl}/api/messages/send`, {
    method: "OPTIONS",
    headers: { origin: "http://evil.test", "access-control-request-method": "POST" },
  });
  assert.equal(r.status, 204);
  assert.deepEqual(cors(r.headers), {});
});

test("requests are forwarded as they are; only an allowed origin gets Access-Control-Allow-Origin", async () => {
  const r = await fetch(`${servers.apiUrl}/api/messages/send?x=1`, {
    method: "POST",
    headers: { origin: PAGE_ORIGIN, authorization: "Bearer t0ken", "content-type": "application/json" },
    body: '{"a":1}',
  });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { echoed: '{"a":1}' });
  assert.deepEqual(cors(r.headers), { "access-control-allow-origin": PAGE_ORIGIN }, "the upstream's '*' is dropped");
  assert.equal(r.headers.get("x-upstream"), "yes");
  const call = calls.at(-1);
  assert.equal(call.method, "POST");
  assert.equal(call.url, "/api/messages/send?x=1");
  assert.equal(call.headers.authorization, "Bearer t0ken");

  const other = await fetch(`${servers.apiUrl}/api/missing`, { headers: { origin: "http://evil.test" } });
  assert.equal(other.status, 404, "the API's status is kept");
  assert.deepEqual(cors(other.headers), {});
  const none = await fetch(`${servers.apiUrl}/api/missing`);
  assert.deepEqual(cors(none.headers), {}, "no Origin, no CORS headers");
});

test("an API that does not answer gives a 502 error body the page can show", async () => {
  const down = await startServers({ api: "http://127.0.0.1:9", webRoot: root, webPort: 0, corsPort: 0, origins: [PAGE_ORIGIN] });
  try {
    const r = await fetch(`${down.apiUrl}/api/auth/login`, { method: "POST", headers: { origin: PAGE_ORIGIN }, body: "{}" });
    assert.equal(r.status, 502);
    assert.equal(r.headers.get("access-control-allow-origin"), PAGE_ORIGIN);
    assert.equal((await r.json()).error.code, "bad_gateway");
  } finally {
    await down.close();
  }
});

test("the static side: config.json names the front, files have their types, nothing outside the root", async () => {
  const config = await fetch(`${servers.pageUrl}config.json`);
  assert.deepEqual(await config.json(), { apiBaseUrl: servers.apiUrl, pollIntervalMs: 1000 });
  const index = await fetch(servers.pageUrl);
  assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(index.headers.get("x-content-type-options"), "nosniff");
  assert.equal((await fetch(`${servers.pageUrl}app.js`)).headers.get("content-type"), "text/javascript; charset=utf-8");
  for (const path of ["..%2fsecret.txt", "%2e%2e/secret.txt", "missing.js"]) {
    assert.equal((await fetch(`${servers.pageUrl}${path}`)).status, 404, path);
  }
  assert.equal((await fetch(servers.pageUrl, { method: "POST" })).status, 405);
});

test("the static side sends the security headers on every answer; a page built without an API origin gets the front's in its CSP", async () => {
  for (const path of ["", "app.js", "config.json", "missing.js"]) {
    const res = await fetch(`${servers.pageUrl}${path}`);
    assert.equal(res.headers.get("content-security-policy"), "frame-ancestors 'none'", path);
    assert.equal(res.headers.get("x-frame-options"), "DENY", path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
    assert.equal(res.headers.get("referrer-policy"), "no-referrer", path);
  }
  assert.deepEqual(Object.keys(SECURITY_HEADERS).sort(), ["content-security-policy", "referrer-policy", "x-content-type-options", "x-frame-options"]);
  const html = await (await fetch(servers.pageUrl)).text();
  assert.ok(html.includes(`content="connect-src 'self' ${new URL(servers.apiUrl).origin}"`), html);
  assert.ok(!html.includes(API_ORIGIN_PLACEHOLDER));
  // a page built with E2EE_API_ORIGIN is served as it is (the page itself refuses a config.json naming another API)
  assert.ok((await (await fetch(`${servers.pageUrl}built.html`)).text()).includes("connect-src 'self' https://api.example\""));
});

test("the API origin put into the CSP: an http(s) origin, a base URL's path dropped; anything else refused", () => {
  assert.equal(apiOrigin("https://api.example.com/prod/"), "https://api.example.com");
  assert.equal(apiOrigin("http://127.0.0.1:8081"), "http://127.0.0.1:8081");
  for (const bad of ["", "api.example.com", "javascript:alert(1)", "ftp://x", "https://u:p@api.example", "data:,x"]) assert.throws(() => apiOrigin(bad), undefined, bad);
  assert.equal(stampApiOrigin(`connect-src 'self' ${API_ORIGIN_PLACEHOLDER}`, "https://API.example:443/x"), "connect-src 'self' https://api.example");
  assert.throws(() => stampApiOrigin("connect-src 'self'", "https://api.example"), /no __E2EE_API_ORIGIN__/);
  // an origin cannot inject another directive or source: the URL parser gives back scheme://host[:port] only
  assert.equal(stampApiOrigin(API_ORIGIN_PLACEHOLDER, "https://a.example/;script-src *"), "https://a.example");
});

test("allowPage: the static server's own origin is allowed, next to the configured ones", async () => {
  const s = await startServers({ api: `http://127.0.0.1:${upstream.address().port}`, webRoot: root, webPort: 0, corsPort: 0, origins: [PAGE_ORIGIN], allowPage: true });
  try {
    const own = new URL(s.pageUrl).origin;
    assert.deepEqual(s.cors.origins, [PAGE_ORIGIN, own]);
    const preflight = (origin) => fetch(`${s.apiUrl}/api/x`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST" } });
    assert.equal((await preflight(own)).headers.get("access-control-allow-origin"), own);
    assert.equal((await preflight("http://127.0.0.1:1")).headers.get("access-control-allow-origin"), null);
  } finally {
    await s.close();
  }
});
