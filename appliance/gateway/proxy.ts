/**
 * Forwards one request to a service on loopback over a keep-alive agent, streaming both bodies. Either side
 * going away ends the other: a response the service cut short closes the client's connection (a pipe alone
 * would leave the client waiting forever), and a client that left aborts the request to the service.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { downstreamHeaders, type ProxyOptions, type ProxyOutcome, upstreamHeaders } from "./proxy-common.js";
import { hasNoBody } from "./body-tap.js";
import { relayBodiless } from "./relay.js";

export {
  CREDENTIAL_HEADERS,
  DROP_UPSTREAM,
  HOP_BY_HOP,
  type ProxyError,
  type ProxyOptions,
  type ProxyOutcome,
  TRUSTED_HEADERS,
} from "./proxy-common.js";

export const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 });

/** Streams `req` to the service and its response back to `res`. Never throws. */
export function proxy(req: IncomingMessage, res: ServerResponse, opts: ProxyOptions): Promise<ProxyOutcome> {
  // Most API calls carry no body: they take the lighter client (relay.ts).
  if (hasNoBody(req) && process.env.NEXUS_PROXY_CLIENT !== "node") return relayBodiless(req, res, opts);
  return new Promise((resolve) => {
    const headers = upstreamHeaders(req.headers, opts);
    const keepCors = opts.toGateway === true;
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
        res.writeHead(up.statusCode ?? 502, downstreamHeaders(up.headers, res, keepCors));
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
    if (hasNoBody(req)) {
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
