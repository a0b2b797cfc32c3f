/**
 * Forwards one request to a service on loopback over a keep-alive agent, streaming both bodies. Either side
 * going away ends the other: a response the service cut short closes the client's connection (a pipe alone
 * would leave the client waiting forever), and a client that left aborts the request to the service.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";

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

/** Request headers that never travel upstream: hop-by-hop, trusted (set by the gateway) and credentials. */
export const DROP_UPSTREAM = new Set([...HOP_BY_HOP, ...TRUSTED_HEADERS, ...CREDENTIAL_HEADERS, "forwarded"]);

/** DROP_UPSTREAM less the credentials: what a gateway handing a request on to another gateway drops. */
const DROP_FORWARDED = new Set([...HOP_BY_HOP, ...TRUSTED_HEADERS, "forwarded"]);

export const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 });

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

/** Streams `req` to the service and its response back to `res`. Never throws. */
export function proxy(req: IncomingMessage, res: ServerResponse, opts: ProxyOptions): Promise<ProxyOutcome> {
  return new Promise((resolve) => {
    const headers: Record<string, string | string[]> = {};
    const inbound = req.headers;
    const drop = opts.toGateway ? DROP_FORWARDED : DROP_UPSTREAM;
    const keepCors = opts.toGateway === true;
    for (const k in inbound) {
      const v = inbound[k];
      if (v !== undefined && !drop.has(k) && !k.startsWith("x-forwarded-")) headers[k] = v;
    }
    Object.assign(headers, opts.headers);
    let settled = false;
    const finish = (o: ProxyOutcome) => {
      if (!settled) {
        settled = true;
        resolve(o);
      }
    };
    const upstream = http.request(
      {
        ...(opts.socketPath ? { socketPath: opts.socketPath } : { host: "127.0.0.1", port: opts.port }),
        method: req.method,
        path: opts.path,
        headers,
        agent: upstreamAgent,
        timeout: opts.timeoutMs,
      },
      (up) => {
        const out: Record<string, string | string[]> = {};
        const upHeaders = up.headers;
        for (const k in upHeaders) {
          const v = upHeaders[k];
          // CORS is the gateway's decision (cors.ts): a service's own access-control-* headers never pass.
          if (v !== undefined && !HOP_BY_HOP.has(k) && (keepCors || !k.startsWith("access-control-")))
            out[k] = v;
        }
        // Keep the gateway's `Vary: Origin` (set before proxying) next to the service's own Vary.
        const ownVary = res.getHeader("vary");
        if (ownVary !== undefined && out.vary !== undefined)
          out.vary = `${String(ownVary)}, ${String(out.vary)}`;
        res.writeHead(up.statusCode ?? 502, out);
        up.pipe(res);
        up.once("end", () => {
          // Answered before the whole body arrived (an upload refused early): stop feeding the service; the
          // rest of the client's body is read and dropped (see lingerAfterEarlyAnswer in gateway.ts).
          if (!req.complete) {
            req.unpipe(upstream);
            upstream.destroy();
            // Unpiped, the request is paused and node does not drain a body already being read: without this
            // it never completes, the linger cuts the socket, and a client that reused it gets ECONNRESET.
            req.resume();
          }
          finish({ status: up.statusCode ?? 502 });
        });
        up.once("error", () => finish({ status: up.statusCode ?? 502 }));
        up.once("close", () => {
          if (!up.complete) res.destroy();
        });
      },
    );
    res.once("close", () => {
      if (settled || res.writableFinished) return;
      upstream.destroy();
      finish({ error: "client-closed" });
    });
    upstream.once("timeout", () => {
      upstream.destroy();
      finish({ error: "timeout" });
    });
    upstream.once("error", () => finish({ error: settled ? "timeout" : "unavailable" }));

    // Most API calls carry no body: skip the byte counting and piping machinery for them.
    const bodiless = inbound["transfer-encoding"] === undefined && (inbound["content-length"] ?? "0") === "0";
    if (bodiless) {
      req.resume();
      upstream.end();
      return;
    }
    let received = 0;
    req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > opts.bodyLimitBytes) {
        upstream.destroy();
        req.unpipe(upstream);
        finish({ error: "body-too-large" });
      }
    });
    req.pipe(upstream);
  });
}
