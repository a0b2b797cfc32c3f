/**
 * The gateway: the box's one public port. Built on node:http rather than Hono because the proxy path is hot
 * (the benchmark goal is >= 0.8 of direct throughput) and needs streaming both ways; the services behind it are
 * Hono apps. Order of checks on /api/*: request id → CORS headers → rate limit → CORS preflight → path → body size →
 * auth → service → proxy.
 * Node enforces the headers and request timeouts only when it sweeps its connections, every 30 s by default:
 * a slowloris would outlive a 10 s headers timeout threefold, so the sweep interval follows the timeouts.
 */
import { randomUUID } from "node:crypto";
import http, { type IncomingMessage, type Server, type ServerResponse } from "node:http";
import https from "node:https";
import type { GatewayConfig } from "../config/schema.js";
import { handleApi } from "./api-route.js";
import { APPLIANCE_API } from "./appliance-access.js";
import { AuthUnavailableError } from "./auth.js";
import { hasNoBody, tapBody } from "./body-tap.js";
import { corsPolicy } from "./cors.js";
import type { GatewayContext, GatewayDeps } from "./gateway-deps.js";
import { handleOwn } from "./own-routes.js";
import { RateLimiter } from "./rate-limit.js";
import { clientIp, fail } from "./reply.js";

export type { GatewayDeps } from "./gateway-deps.js";

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** PEM certificate and key of an HTTPS listener. */
export interface GatewayTls {
  cert: Buffer;
  key: Buffer;
}

/** Creates (does not start) the gateway's HTTP server, or its HTTPS server when given a certificate. */
export function createGateway(deps: GatewayDeps, tls?: GatewayTls): Server {
  const { config, log, metrics } = deps;
  const limiter = new RateLimiter(config.rateLimitMax, config.rateLimitWindowMs);
  const corsFor = corsPolicy(deps.corsOrigins ?? []);
  const gw: GatewayContext = {
    deps,
    config,
    log,
    metrics,
    ownOpenApi: once(async () =>
      (await import("./gateway-openapi.js")).gatewayOpenApi(await deps.applianceApi?.openApi()),
    ),
  };

  const options = { connectionsCheckingInterval: timeoutSweepMs(config) };
  const serve = (req: IncomingMessage, res: ServerResponse) => {
    handle(gw, limiter, corsFor, req, res).catch((err) => {
      // The auth hook could not check the caller yet: retry later, which a 401 would not tell them.
      if (err instanceof AuthUnavailableError && !res.headersSent) {
        metrics.reject("auth-unavailable");
        return fail(res, 503, err.message, null, { "retry-after": String(err.retryAfterSeconds) });
      }
      log.error({ err }, "gateway error");
      if (!res.headersSent) fail(res, 500, "internal error");
      else res.destroy();
    });
  };
  const server: Server = tls
    ? https.createServer({ ...options, ...tls }, serve)
    : http.createServer(options, serve);
  server.headersTimeout = config.headersTimeoutMs;
  // Enforced per request by requestDeadline(): streaming routes trade it for an idle timeout.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 5000;
  server.maxHeadersCount = 100;
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const status =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
    const body = JSON.stringify({ status, message: http.STATUS_CODES[status], data: null });
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  server.on("close", () => limiter.close());
  return server;
}

/**
 * Every request: request id, CORS headers, rate limit, CORS preflight; then the gateway's own paths or the
 * /api/* path.
 */
async function handle(
  gw: GatewayContext,
  limiter: RateLimiter,
  corsFor: ReturnType<typeof corsPolicy>,
  req: IncomingMessage,
  res: ServerResponse,
) {
  const { config, metrics, deps } = gw;
  if (deps.forward && !servedHere(deps, req.url ?? "/")) return deps.forward(req, res);
  const deadline = requestDeadline(req, res, config.requestTimeoutMs);
  const incomingId = req.headers["x-request-id"];
  const reqId = typeof incomingId === "string" && REQUEST_ID.test(incomingId) ? incomingId : randomUUID();
  res.setHeader("x-request-id", reqId);
  const target = req.url ?? "/";
  const ip = clientIp(req);
  // On every answer, errors included, so an allowed page can read a 401 or a 429.
  const cors = corsFor(req.method ?? "GET", req.headers);
  const corsHeaders = cors.headers;
  for (const name in corsHeaders) res.setHeader(name, corsHeaders[name]!);

  const limit = limiter.hit(ip);
  if (!limit.allowed) {
    metrics.reject("rate-limit");
    return fail(res, 429, "too many requests", null, { "retry-after": String(limit.retryAfterSeconds) });
  }
  // A preflight carries no credentials: it is answered here, before any path or authentication check.
  if (cors.preflight === "allowed") {
    res.writeHead(204);
    return res.end();
  }
  if (cors.preflight === "refused") {
    metrics.reject("cors");
    return fail(res, 403, "origin not allowed", { origin: req.headers.origin ?? null });
  }

  const q = target.indexOf("?");
  const pathOnly = q < 0 ? target : target.slice(0, q);
  if (!pathOnly.startsWith("/api/") || pathOnly === "/api/openapi.json") {
    return handleOwn(gw, req, res, pathOnly, reqId);
  }
  return handleApi(gw, req, res, { target, pathOnly, reqId, deadline });
}

/** Whether a shared host's gateway serves this target itself: `/api/<service>/…` of a service in this process. */
function servedHere(deps: GatewayDeps, target: string): boolean {
  if (!target.startsWith("/api/")) return false;
  const end = target.indexOf("/", 5);
  const name = target.slice(5, end < 0 ? undefined : end);
  return name !== APPLIANCE_API && deps.local?.(name) !== undefined;
}

const NO_DEADLINE = { idleOnly: (_idleMs: number) => undefined };

/** How often node checks for headers timeouts: a quarter of it, between 50 ms and 1 s. */
function timeoutSweepMs(config: GatewayConfig): number {
  return Math.min(1000, Math.max(50, Math.floor(config.headersTimeoutMs / 4)));
}

/**
 * The whole request (head and body) must arrive within `ms`, as node's own `requestTimeout` would have it;
 * then the client gets 408 and the connection closes. `idleOnly` turns it into "no byte for `ms`" for
 * streaming routes, which only authenticated callers reach.
 */
function requestDeadline(req: IncomingMessage, res: ServerResponse, ms: number) {
  // Most API calls carry no body: their request is complete with its head (node marks it `complete` only
  // after this handler runs), nothing to time.
  if (req.complete || hasNoBody(req)) return NO_DEADLINE;
  const expire = () => {
    if (req.complete) return;
    if (!res.headersSent) {
      res.setHeader("connection", "close");
      fail(res, 408, "request timeout: the request did not arrive in time");
    }
    req.socket.destroySoon();
    setTimeout(() => req.socket.destroy(), 1000).unref();
  };
  const timer = setTimeout(expire, ms);
  const clear = () => clearTimeout(timer);
  req.once("end", clear);
  res.once("close", clear);
  return {
    idleOnly(idleMs: number) {
      clearTimeout(timer);
      const idle = setTimeout(expire, idleMs);
      // Not a `data` listener: that would start the flow before the in-process app reads (body-tap.ts).
      tapBody(req, () => {
        idle.refresh();
        return true;
      });
      req.once("end", () => clearTimeout(idle));
      res.once("close", () => clearTimeout(idle));
    },
  };
}

/** `fn`'s first result, kept (a failed one is asked again). */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= fn().catch((err) => {
      p = undefined;
      throw err;
    });
    return p;
  };
}
