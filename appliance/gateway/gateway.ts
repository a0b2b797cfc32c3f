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
import type { GatewayConfig } from "../config/schema.js";
import { type AccessLevel, type AccessRule, hasPermission, type Logger, ruleFor } from "../kit/index.js";
import { APPLIANCE_API, type ApplianceApi } from "./appliance-api.js";
import type { AuthHook, Principal } from "./auth.js";
import type { ConsoleFiles } from "./console-files.js";
import { corsPolicy } from "./cors.js";
import type { BoxGauges, GatewayMetrics, ServiceGauge } from "./metrics.js";
import { aggregateOpenApi } from "./openapi.js";
import { LANDING_HTML, SETUP_HTML, SETUP_JS } from "./pages.js";
import { parseApiPath } from "./path.js";
import { type ProxyError, proxy } from "./proxy.js";
import { RateLimiter } from "./rate-limit.js";

export interface GatewayDeps {
  config: GatewayConfig;
  log: Logger;
  version: string;
  auth: AuthHook;
  metrics: GatewayMetrics;
  /** Running services and their loopback ports. */
  routes: () => ReadonlyMap<string, number>;
  /** Every configured service (running or not): unknown names get 404, known-but-down 503. */
  services: () => readonly string[];
  gauges: () => ServiceGauge[];
  /** The data disk and the supervisor's own log, for /metrics. */
  box?: () => BoxGauges;
  /** The rule a service declares for `method path`: access level and body limit (see kit/access.ts). */
  route: (service: string, method: string, path: string) => AccessRule;
  /** Proves to services that a request came through the gateway. */
  internalToken: string;
  /** The console page (served at `/`). */
  consoleHtml?: () => string;
  /** The built web console (`/`, `/setup`, `/assets/*`), when it was built. */
  consoleFiles?: ConsoleFiles | null;
  /** The gateway's own API at `/api/appliance/…` (appliance-api.ts). */
  applianceApi?: ApplianceApi;
  /** Origins whose browser pages may call the API (config `cors.allowedOrigins`); none: CORS off. */
  corsOrigins?: readonly string[];
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** What the gateway's own non-public pages (/metrics, /api/openapi.json) need. */
const OWN_PERMISSION = "appliance:read";
const LINGER_MS = 5000;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const PUBLIC_PATHS = new Set(["/health", "/ready", "/", "/favicon.ico", "/setup", "/setup.js"]);

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function page(res: ServerResponse, body: string, type: string) {
  res.writeHead(200, {
    "content-type": `${type}; charset=utf-8`,
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  });
  res.end(body);
}

/** `{ status, message, data }` from the gateway itself. */
function fail(res: ServerResponse, status: number, message: string, data: unknown = null, headers = {}) {
  send(res, status, { status, message, data }, headers);
}

/** Creates (does not start) the gateway's HTTP server. */
export function createGateway(deps: GatewayDeps): Server {
  const { config, log, metrics } = deps;
  const limiter = new RateLimiter(config.rateLimitMax, config.rateLimitWindowMs);
  const corsFor = corsPolicy(deps.corsOrigins ?? []);

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const deadline = requestDeadline(req, res, config.requestTimeoutMs);
    const incomingId = req.headers["x-request-id"];
    const reqId = typeof incomingId === "string" && REQUEST_ID.test(incomingId) ? incomingId : randomUUID();
    res.setHeader("x-request-id", reqId);
    const target = req.url ?? "/";
    const ip = req.socket.remoteAddress ?? "unknown";
    // On every answer, errors included, so an allowed page can read a 401 or a 429.
    const cors = corsFor(req.method ?? "GET", req.headers);
    for (const [name, value] of Object.entries(cors.headers)) res.setHeader(name, value);

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

    const pathOnly = target.split("?")[0] ?? "/";
    if (!pathOnly.startsWith("/api/") || pathOnly === "/api/openapi.json") {
      return handleOwn(req, res, pathOnly, reqId);
    }

    const parsed = parseApiPath(target);
    if (!parsed.ok) {
      metrics.reject("path");
      return fail(res, parsed.status, parsed.message);
    }
    const method = req.method ?? "GET";
    const own = parsed.service === APPLIANCE_API ? deps.applianceApi : undefined;
    const known = !!own || deps.services().includes(parsed.service);
    // Service-internal routes (identity's introspection, …) are for the gateway and supervisor only.
    const internal = parsed.rest === "/internal" || parsed.rest.startsWith("/internal/");
    const matched =
      !known || internal
        ? undefined
        : own
          ? ruleFor(own.access, method, parsed.rest)
          : deps.route(parsed.service, method, parsed.rest);
    const level: AccessLevel = matched?.access ?? { permission: "*" };
    const bodyLimit = Math.max(config.bodyLimitBytes, matched?.maxBodyBytes ?? 0);
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > bodyLimit) {
      metrics.reject("body-size");
      res.setHeader("connection", "close");
      return fail(res, 413, `request body over ${bodyLimit} bytes`);
    }
    const authed = deps.auth({ method, path: pathOnly, headers: req.headers });
    const principal = authed instanceof Promise ? await authed : authed;
    if (level !== "public" && !principal) {
      metrics.reject("unauthenticated");
      return fail(res, 401, "authentication required", null, { "www-authenticate": "Bearer" });
    }
    // After authentication, so an anonymous caller cannot list which services exist.
    if (!known || internal) {
      metrics.reject("unknown-service");
      return fail(res, 404, known ? "no such route" : "no such service", { service: parsed.service });
    }
    // Public routes (login, setup) stay reachable for a browser that still holds an old session cookie.
    if (
      principal?.via === "session" &&
      level !== "public" &&
      !SAFE_METHODS.has(method) &&
      !principal.csrfOk
    ) {
      metrics.reject("csrf");
      return fail(res, 403, "missing or invalid CSRF token (send the x-csrf-token header)");
    }
    if (typeof level === "object" && !hasPermission(principal?.permissions ?? [], level.permission)) {
      metrics.reject("forbidden");
      return fail(res, 403, "permission denied", { needs: level.permission });
    }
    if (own)
      return own.handle(req, res, { rest: parsed.rest, search: parsed.search, principal: principal!, reqId });
    const port = deps.routes().get(parsed.service);
    if (!port) {
      metrics.reject("unavailable");
      return fail(res, 503, "service unavailable", { service: parsed.service }, { "retry-after": "2" });
    }

    // A streaming route (upload) may take as long as it keeps sending: the deadline becomes an idle timeout.
    if (matched?.maxBodyBytes) {
      deadline.idleOnly(config.uploadIdleTimeoutMs);
      lingerAfterEarlyAnswer(req, res);
    }
    const started = performance.now();
    const outcome = await proxy(req, res, {
      port,
      path: `${parsed.rest}${parsed.search}`,
      headers: upstreamHeaders(req, reqId, principal, deps.internalToken),
      bodyLimitBytes: bodyLimit,
      timeoutMs: config.upstreamTimeoutMs,
    });
    const seconds = (performance.now() - started) / 1000;
    if ("error" in outcome) {
      const [status, message] = proxyError(outcome.error, bodyLimit);
      metrics.observe(parsed.service, status, seconds);
      // A streamed body over the limit is refused by the gateway just like a declared one.
      if (outcome.error === "body-too-large") metrics.reject("body-size");
      if (!res.headersSent) {
        res.setHeader("connection", "close");
        fail(res, status, message, { service: parsed.service });
      } else res.destroy();
      return;
    }
    metrics.observe(parsed.service, outcome.status, seconds);
  }

  async function handleOwn(req: IncomingMessage, res: ServerResponse, path: string, reqId: string) {
    if (req.method !== "GET" && req.method !== "HEAD") return fail(res, 405, "method not allowed");
    if (deps.consoleFiles?.serve(req, res, path)) return;
    if (!PUBLIC_PATHS.has(path) && !(path === "/metrics" && config.metricsPublic)) {
      const principal = await deps.auth({ method: req.method, path, headers: req.headers });
      if (!principal) {
        metrics.reject("unauthenticated");
        return fail(res, 401, "authentication required", null, { "www-authenticate": "Bearer" });
      }
      // Metrics and the API map describe the whole box: operators and admins, not every signed-in caller.
      if (!hasPermission(principal.permissions, OWN_PERMISSION)) {
        metrics.reject("forbidden");
        return fail(res, 403, "permission denied", { needs: OWN_PERMISSION });
      }
    }
    switch (path) {
      case "/health":
        return send(res, 200, { status: "ok", version: deps.version });
      case "/ready": {
        const routes = deps.routes();
        const down = deps.services().filter((s) => !routes.has(s));
        return send(res, down.length ? 503 : 200, {
          status: down.length ? "degraded" : "ready",
          services: Object.fromEntries(
            deps.services().map((s) => [s, routes.has(s) ? "ready" : "unavailable"]),
          ),
        });
      }
      case "/metrics": {
        const text = metrics.render(deps.gauges(), deps.box?.());
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
        return res.end(text);
      }
      case "/api/openapi.json":
        return send(res, 200, await aggregateOpenApi(deps.routes(), deps.version, deps.internalToken));
      case "/":
        return page(res, deps.consoleHtml?.() ?? LANDING_HTML, "text/html");
      case "/setup":
        return page(res, SETUP_HTML, "text/html");
      case "/setup.js":
        return page(res, SETUP_JS, "text/javascript");
      default:
        log.debug({ reqId, path }, "gateway 404");
        return fail(res, 404, "no such route", { path });
    }
  }

  const server = http.createServer({ connectionsCheckingInterval: timeoutSweepMs(config) }, (req, res) => {
    handle(req, res).catch((err) => {
      log.error({ err }, "gateway error");
      if (!res.headersSent) fail(res, 500, "internal error");
      else res.destroy();
    });
  });
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

/** Status and message for a proxy failure; 499 (client closed request, as nginx logs it) only reaches metrics. */
function proxyError(error: ProxyError, bodyLimitBytes: number): [number, string] {
  switch (error) {
    case "body-too-large":
      return [413, `request body over ${bodyLimitBytes} bytes`];
    case "timeout":
      return [504, "service did not answer in time"];
    case "client-closed":
      return [499, "client closed request"];
    default:
      return [503, "service unavailable"];
  }
}

/** How often node checks for headers timeouts: a quarter of it, between 50 ms and 1 s. */
function timeoutSweepMs(config: GatewayConfig): number {
  return Math.min(1000, Math.max(50, Math.floor(config.headersTimeoutMs / 4)));
}

/**
 * A service may refuse an upload before its body has arrived (quota, full disk). Closing the connection at
 * once would reset it with unread data and could destroy the answer on its way, so node reads and drops the
 * rest of the body; a client still sending after LINGER_MS is cut off.
 */
function lingerAfterEarlyAnswer(req: IncomingMessage, res: ServerResponse) {
  res.once("finish", () => {
    if (req.complete) return;
    setTimeout(() => {
      if (!req.complete) req.socket.destroy();
    }, LINGER_MS).unref();
  });
}

/**
 * The whole request (head and body) must arrive within `ms`, as node's own `requestTimeout` would have it;
 * then the client gets 408 and the connection closes. `idleOnly` turns it into "no byte for `ms`" for
 * streaming routes, which only authenticated callers reach.
 */
function requestDeadline(req: IncomingMessage, res: ServerResponse, ms: number) {
  // Most API calls carry no body: their request is already complete, nothing to time.
  if (req.complete) return { idleOnly: (_idleMs: number) => undefined };
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
      req.on("data", () => idle.refresh());
      req.once("end", () => clearTimeout(idle));
      res.once("close", () => clearTimeout(idle));
    },
  };
}

function upstreamHeaders(
  req: IncomingMessage,
  reqId: string,
  principal: Principal | null,
  internalToken: string,
): Record<string, string> {
  const h: Record<string, string> = {
    "x-request-id": reqId,
    "x-forwarded-for": req.socket.remoteAddress ?? "",
    "x-forwarded-proto": "http",
    "x-nexus-internal": internalToken,
  };
  if (principal) {
    const { csrfOk: _csrf, ...visible } = principal;
    h["x-nexus-principal"] = JSON.stringify(visible);
  }
  return h;
}
