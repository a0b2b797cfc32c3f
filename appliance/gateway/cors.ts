/**
 * CORS at the gateway: which browser pages from other origins may call the box's API.
 *
 * Off unless `cors.allowedOrigins` lists origins; each is exact (no `*`: the API takes credentials, so a
 * wildcard would let any site's page use a token it got hold of, and browsers refuse `*` with credentials
 * anyway). An allowed origin gets `Access-Control-Allow-Origin` echoing it on every answer, errors included,
 * so its page can read a 401 or 429. Any other origin gets no CORS header: the browser keeps the answer from
 * the page. A preflight is answered here before authentication (browsers send it without credentials): 204
 * for an allowed origin, 403 in the error shape for any other. No `Access-Control-Allow-Credentials`: pages
 * on other origins authenticate with a bearer token or an API key; the console's session cookie is
 * SameSite=Strict and stays with the console.
 */
import type { IncomingHttpHeaders } from "node:http";

export const CORS_ALLOW_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
/** Request headers the API reads: credentials, JSON, request ids, conditional requests and the tus protocol. */
export const CORS_ALLOW_HEADERS = [
  "authorization",
  "content-type",
  "x-api-key",
  "x-csrf-token",
  "x-request-id",
  "if-match",
  "if-none-match",
  "range",
  "upload-length",
  "upload-offset",
  "upload-metadata",
  "upload-checksum",
  "tus-resumable",
];
/** Response headers a page may read besides the CORS-safelisted ones. */
export const CORS_EXPOSE_HEADERS = [
  "location",
  "etag",
  "content-range",
  "retry-after",
  "x-request-id",
  "upload-offset",
  "upload-length",
  "upload-expires",
  "tus-resumable",
];
/** How long a browser may reuse a preflight's answer (Chromium caps it at 2 h). */
export const CORS_MAX_AGE_SECONDS = 600;

/** What the gateway does about CORS for one request. */
export interface CorsDecision {
  /** A preflight to answer now (204 allowed, 403 refused), or null for any other request. */
  preflight: "allowed" | "refused" | null;
  /** Headers to put on the answer (none for an origin not allowed). */
  headers: Record<string, string>;
}

/** Decides CORS for requests against a fixed list of exact origins (empty: CORS off). */
export function corsPolicy(
  allowedOrigins: readonly string[],
): (method: string, headers: IncomingHttpHeaders) => CorsDecision {
  const allowed = new Set(allowedOrigins);
  const enabled = allowed.size > 0;
  const varyOnly = Object.freeze<Record<string, string>>(enabled ? { vary: "Origin" } : {});
  const plain: CorsDecision = Object.freeze({ preflight: null, headers: varyOnly });
  const refused: CorsDecision = Object.freeze({ preflight: "refused", headers: varyOnly });
  return (method, headers) => {
    const origin = headers.origin;
    const isPreflight =
      method === "OPTIONS" && typeof origin === "string" && !!headers["access-control-request-method"];
    // The answer depends on Origin once CORS is on: caches must not hand one origin's answer to another.
    const vary: Record<string, string> = enabled ? { vary: "Origin" } : {};
    // The common case (no Origin, or not an allowed one): one shared, frozen answer, no allocation.
    if (typeof origin !== "string" || !allowed.has(origin)) return isPreflight ? refused : plain;
    if (!isPreflight) {
      return {
        preflight: null,
        headers: {
          ...vary,
          "access-control-allow-origin": origin,
          "access-control-expose-headers": CORS_EXPOSE_HEADERS.join(", "),
        },
      };
    }
    return {
      preflight: "allowed",
      headers: {
        ...vary,
        "access-control-allow-origin": origin,
        "access-control-allow-methods": CORS_ALLOW_METHODS.join(", "),
        "access-control-allow-headers": CORS_ALLOW_HEADERS.join(", "),
        "access-control-max-age": String(CORS_MAX_AGE_SECONDS),
        // A page on a public origin calling a box on the LAN (Chromium's Private Network Access).
        ...(headers["access-control-request-private-network"] === "true"
          ? { "access-control-allow-private-network": "true" }
          : {}),
      },
    };
  };
}
