/**
 * What both upstream clients of the proxy (proxy.ts: node:http for requests with a body, relay.ts: undici for
 * bodiless ones) share: the options, the outcome, and which headers cross the hop each way.
 */
import type { IncomingHttpHeaders, ServerResponse } from "node:http";

export const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

/** Headers a client may never set itself: services trust them because only the gateway reaches them. */
export const TRUSTED_HEADERS = ["x-nexus-principal", "x-forwarded-for", "x-forwarded-proto"];

/** Credentials stop at the gateway: a service learns who calls from `x-nexus-principal`, never the secret. */
export const CREDENTIAL_HEADERS = ["authorization", "cookie"];

/**
 * Request headers that never travel upstream: hop-by-hop, trusted (set by the gateway) and credentials.
 * `expect` too: node's server already answered a `100-continue` to the client, the hop has its own.
 */
export const DROP_UPSTREAM = new Set([
  ...HOP_BY_HOP,
  ...TRUSTED_HEADERS,
  ...CREDENTIAL_HEADERS,
  "forwarded",
  "expect",
]);

/** DROP_UPSTREAM less the credentials: what a gateway handing a request on to another gateway drops. */
const DROP_FORWARDED = new Set([...HOP_BY_HOP, ...TRUSTED_HEADERS, "forwarded", "expect"]);

export interface ProxyOptions {
  port: number;
  /** A unix socket to connect to instead of the loopback port (the supervisor's private listener). */
  socketPath?: string;
  path: string;
  headers: Record<string, string>;
  bodyLimitBytes: number;
  timeoutMs: number;
  /**
   * The upstream is another gateway (the shared host's gateway handing a request on to the supervisor's): the
   * client's credentials go along, as it checks them itself, and its CORS headers come back.
   */
  toGateway?: boolean;
}

export type ProxyError = "body-too-large" | "unavailable" | "timeout" | "client-closed";
export type ProxyOutcome = { status: number } | { error: ProxyError };

/** The client's request headers less what must not cross the hop, plus the gateway's own (`opts.headers`). */
export function upstreamHeaders(
  inbound: IncomingHttpHeaders,
  opts: ProxyOptions,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const drop = opts.toGateway ? DROP_FORWARDED : DROP_UPSTREAM;
  for (const k in inbound) {
    const v = inbound[k];
    if (v !== undefined && !drop.has(k) && !k.startsWith("x-forwarded-")) headers[k] = v;
  }
  return Object.assign(headers, opts.headers);
}

/** The service's response headers as the client gets them. */
export function downstreamHeaders(
  upHeaders: IncomingHttpHeaders,
  res: ServerResponse,
  keepCors: boolean,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in upHeaders) {
    const v = upHeaders[k];
    // CORS is the gateway's decision (cors.ts): a service's own access-control-* headers never pass.
    if (v !== undefined && !HOP_BY_HOP.has(k) && (keepCors || !k.startsWith("access-control-"))) out[k] = v;
  }
  // Keep the gateway's `Vary: Origin` (set before proxying) next to the service's own Vary.
  const ownVary = res.getHeader("vary");
  if (ownVary !== undefined && out.vary !== undefined) out.vary = `${String(ownVary)}, ${String(out.vary)}`;
  return out;
}
