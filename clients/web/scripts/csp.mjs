// The page's Content-Security-Policy names the one API origin the page may connect to (review N12). page/index.html
// carries the policy as a <meta> with the placeholder API_ORIGIN_PLACEHOLDER in connect-src; it is filled in
//  - by build-page.mjs from E2EE_API_ORIGIN, for a static host (S3 + CloudFront): the built index.html then holds
//    the origin, and config.json must name an API on it (the page refuses another one);
//  - by serve.mjs at serve time, with the URL of its own CORS front (local use and the browser tests, whose ports
//    are picked at run time), when the build left the placeholder in.
// A page served with the placeholder still in it may connect to its own origin only (an unknown source expression
// is ignored by browsers): it cannot reach any API, and says why.
//
// What a <meta> policy cannot carry (frame-ancestors) and the other security headers are HTTP headers:
// SECURITY_HEADERS, sent by serve.mjs and to be set by the host (README: the CloudFront response headers policy).

export const API_ORIGIN_PLACEHOLDER = "__E2EE_API_ORIGIN__";

/** The HTTP headers the page is served with (every response of the static host). */
export const SECURITY_HEADERS = {
  "content-security-policy": "frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/**
 * The origin of `value` (an origin or the API's base URL), checked: http(s), no credentials; a base URL's path is
 * dropped (CSP source expressions here are origins). Throws Error naming the problem.
 */
export function apiOrigin(value, name = "E2EE_API_ORIGIN") {
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${name} is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error(`${name} must be an http(s) origin`);
  if (url.username || url.password) throw new Error(`${name} must not contain credentials`);
  return url.origin;
}

/** `html` with the API origin put into its CSP (the placeholder replaced); throws when it has no placeholder. */
export function stampApiOrigin(html, origin) {
  if (!html.includes(API_ORIGIN_PLACEHOLDER)) throw new Error(`index.html has no ${API_ORIGIN_PLACEHOLDER} to fill in`);
  return html.replaceAll(API_ORIGIN_PLACEHOLDER, apiOrigin(origin));
}
