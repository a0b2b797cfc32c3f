/**
 * The /api/* path: parse, body size, authentication, service, CSRF and permission checks, then the proxy to the
 * service (or the gateway's own appliance API). Kept lean: it is the hot path.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type AccessLevel, type AccessRule, hasPermission, ruleFor } from "../kit/access.js";
import { APPLIANCE_API } from "./appliance-access.js";
import type { Principal } from "./auth.js";
import type { Deadline, GatewayContext } from "./gateway-deps.js";
import { asGateway, dispatchLocal } from "./in-process.js";
import { parseApiPath } from "./path.js";
import { type ProxyError, proxy } from "./proxy.js";
import { clientIp, fail } from "./reply.js";

const LINGER_MS = 5000;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Checks an /api/* request and hands it to its service (or the appliance API). */
export async function handleApi(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  at: { target: string; pathOnly: string; reqId: string; deadline: Deadline },
) {
  const { deps, config, metrics } = gw;
  const { target, pathOnly, reqId } = at;
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
  // A service-authenticated route never sees a gateway principal (no cookie session riding along, no CSRF
  // question); it gets the client's Authorization header instead (upstreamHeaders) and checks it itself.
  const serviceAuth = level === "service";
  const authed = serviceAuth ? null : deps.auth({ method, path: pathOnly, headers: req.headers });
  const principal = authed instanceof Promise ? await authed : authed;
  if (level !== "public" && !serviceAuth && !principal) {
    metrics.reject("unauthenticated");
    return fail(res, 401, "authentication required", null, { "www-authenticate": "Bearer" });
  }
  // After authentication, so an anonymous caller cannot list which services exist.
  if (!known || internal) {
    metrics.reject("unknown-service");
    return fail(res, 404, known ? "no such route" : "no such service", { service: parsed.service });
  }
  // Public routes (login, setup) stay reachable for a browser that still holds an old session cookie.
  if (principal?.via === "session" && level !== "public" && !SAFE_METHODS.has(method) && !principal.csrfOk) {
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
  return forward(gw, req, res, {
    port,
    reqId,
    deadline: at.deadline,
    service: parsed.service,
    path: `${parsed.rest}${parsed.search}`,
    method,
    matched,
    bodyLimit,
    principal,
  });
}

interface Forward {
  port: number;
  reqId: string;
  deadline: Deadline;
  service: string;
  /** The path and query string at the service. */
  path: string;
  method: string;
  matched: AccessRule | undefined;
  bodyLimit: number;
  principal: Principal | null;
}

/** Proxies a checked request to its service's port; records its status and duration. */
async function forward(gw: GatewayContext, req: IncomingMessage, res: ServerResponse, f: Forward) {
  const { deps, config, metrics } = gw;
  const { port, matched, deadline, reqId, principal, bodyLimit, method, service } = f;
  // A streaming route (upload) may take as long as it keeps sending: the deadline becomes an idle timeout.
  if (matched?.maxBodyBytes) {
    deadline.idleOnly(config.uploadIdleTimeoutMs);
    lingerAfterEarlyAnswer(req, res);
  }
  const started = performance.now();
  const target = {
    port,
    socketPath: deps.socket?.(service),
    path: f.path,
    headers: upstreamHeaders(req, reqId, principal, deps.internalToken, matched?.access === "service"),
    bodyLimitBytes: bodyLimit,
    timeoutMs: config.upstreamTimeoutMs,
  };
  const local = deps.local?.(service);
  const outcome = local ? await dispatchLocal(req, res, local, target) : await proxy(req, res, target);
  const seconds = (performance.now() - started) / 1000;
  if ("error" in outcome) {
    const [status, message] = proxyError(outcome.error, bodyLimit);
    metrics.observe(service, method, status, seconds);
    // A streamed body over the limit is refused by the gateway just like a declared one.
    if (outcome.error === "body-too-large") metrics.reject("body-size");
    if (!res.headersSent) {
      res.setHeader("connection", "close");
      asGateway(res, () => fail(res, status, message, { service }));
    } else res.destroy();
    return;
  }
  metrics.observe(service, method, outcome.status, seconds);
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

function upstreamHeaders(
  req: IncomingMessage,
  reqId: string,
  principal: Principal | null,
  internalToken: string,
  serviceAuth = false,
): Record<string, string> {
  const h: Record<string, string> = {
    "x-request-id": reqId,
    "x-forwarded-for": clientIp(req),
    "x-forwarded-proto": "http",
    "x-nexus-internal": internalToken,
    // The Host the client used, so a service can write absolute links back to it (OpenRosa's downloadUrl).
    "x-forwarded-host": req.headers.host ?? "",
  };
  const auth = req.headers.authorization;
  if (serviceAuth && auth) h.authorization = auth;
  if (principal) h["x-nexus-principal"] = principalHeader(principal);
  return h;
}

/** Per principal object: auth hooks that hand out the same object (the bootstrap token's) pay it once. */
const principalJson = new WeakMap<Principal, string>();

/** The principal as services see it: JSON, without `csrfOk`. */
function principalHeader(principal: Principal): string {
  let json = principalJson.get(principal);
  if (json === undefined) {
    const { csrfOk: _csrf, ...visible } = principal;
    json = JSON.stringify(visible);
    principalJson.set(principal, json);
  }
  return json;
}
