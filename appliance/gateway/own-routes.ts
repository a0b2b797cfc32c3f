/** The gateway's own routes: /health, /ready, /metrics, /api/openapi.json and the console pages. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { hasPermission } from "../kit/access.js";
import type { GatewayContext, GatewayDeps } from "./gateway-deps.js";
import { LANDING_HTML, SETUP_HTML, SETUP_JS } from "./pages.js";
import { fail, page, send } from "./reply.js";

/** What the gateway's own non-public pages (/metrics, /api/openapi.json) need. */
const OWN_PERMISSION = "appliance:read";
const PUBLIC_PATHS = new Set(["/health", "/ready", "/", "/favicon.ico", "/setup", "/setup.js"]);

/** The gateway's own paths (everything outside /api/, and /api/openapi.json): pages, health, ready, metrics. */
export async function handleOwn(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  reqId: string,
) {
  const { deps, config, metrics, log } = gw;
  if (req.method !== "GET" && req.method !== "HEAD") return fail(res, 405, "method not allowed");
  if (deps.consoleFiles?.serve(req, res, path)) return;
  if (deps.collectFiles?.serve(req, res, path)) return;
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
    case "/ready":
      return ready(deps, res);
    case "/metrics": {
      const text = metrics.render(deps.gauges(), await metrics.processFamilies(), deps.box?.());
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
      return res.end(text);
    }
    case "/api/openapi.json":
      return send(
        res,
        200,
        // Loaded on first ask: the document is built with zod-openapi, which nothing else here needs.
        await (await import("./openapi.js")).aggregateOpenApi(
          deps.routes(),
          deps.version,
          deps.internalToken,
          {
            gatewayDoc: await gw.ownOpenApi(),
          },
        ),
      );
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

/** 200 once every service answers and callers' credentials can be checked (see AuthHook.ready). */
async function ready(deps: GatewayDeps, res: ServerResponse) {
  const routes = deps.routes();
  const down = deps.services().filter((s) => !routes.has(s));
  const authReady = down.length > 0 || ((await deps.auth.ready?.()) ?? true);
  const ok = down.length === 0 && authReady;
  return send(res, ok ? 200 : 503, {
    status: ok ? "ready" : "degraded",
    services: Object.fromEntries(deps.services().map((s) => [s, routes.has(s) ? "ready" : "unavailable"])),
    ...(authReady ? {} : { auth: "unavailable" }),
  });
}
