/**
 * The gateway's own API under `/api/appliance/…`, for the console and scripts: box status (also as a live
 * SSE stream, with the sync status), sync with the hub, service restart/stop/start, and service logs (tail,
 * live follow, download). A Hono app (routes and schemas in appliance-routes.ts) served in-process by the
 * gateway through `getRequestListener`, after the gateway has authenticated the caller, checked CSRF and the
 * permission of `APPLIANCE_ACCESS`. Errors are the kit's: `{ status, message, data }`, a wrong method is 405
 * with `Allow`. `appliance` is reserved: no service may take the name (startAppliance refuses it).
 * Thin routes: the work is in appliance/box (status), appliance/sync-status.ts (through ./appliance-sync.ts)
 * and appliance/supervisor (units, log files).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { getRequestListener } from "@hono/node-server";
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { BoxBackups } from "../backup/box-backups.js";
import { type ApplianceStatus, applianceStatus, type StatusSources } from "../box/status.js";
import { notFoundOr405 } from "../kit/allow.js";
import { ApiError, errorBody, hasPermission, type Logger, renderError } from "../kit/index.js";
import { followLog, type LogSource, logSource, tailLog } from "../supervisor/log-files.js";
import type { ServiceStatus } from "../supervisor/status.js";
import type { SyncStatus } from "../sync-status.js";
import { APPLIANCE_ACCESS, APPLIANCE_API, type ApiCall, READ } from "./appliance-access.js";
import { mountBackupRoutes } from "./appliance-backups.js";
import { downloadResponse, matcher } from "./appliance-logs.js";
import * as r from "./appliance-routes.js";
import { createSyncWatch } from "./appliance-sync.js";
import { type AuthHook, AuthUnavailableError, type Principal } from "./auth.js";
import { type SseStream, type StreamLimits, sseResponse, streamBudget } from "./sse.js";

export { APPLIANCE_ACCESS, APPLIANCE_API, APPLIANCE_PERMISSIONS, type ApiCall } from "./appliance-access.js";

const BASE = `/api/${APPLIANCE_API}`;

/** What the API needs of the supervisor. */
export interface UnitControl {
  status(): ServiceStatus[];
  restartUnit(unit: string): Promise<void>;
  stopUnit(unit: string): Promise<void>;
  startUnit(unit: string): void;
}

export interface ApplianceApiDeps {
  units: UnitControl;
  status: StatusSources;
  logsDir: string;
  auth: AuthHook;
  log: Logger;
  /** The box's backups (appliance/backup/box-backups.ts). */
  backups: BoxBackups;
  /** Open SSE streams at most (status and log follows together), for the box and per caller; more get 429. */
  streams: StreamLimits;
}

/** The node request and response `getRequestListener` passes to the app. */
type Env = { Bindings: { incoming: IncomingMessage; outgoing: ServerResponse } };

/** The one action that takes a (JSON) body: its options. */
const TAKES_BODY = new Set([`${BASE}/backups`]);
/** Stopping it from the console would lock everybody out of the console and the API. */
const LOCKOUT_SERVICE = "identity";
/** How often a live stream checks that its caller may still read (session revoked, role changed). */
const RECHECK_MS = 15_000;

/** The box's status with its sync status; the sync backlog alert joins the box's alerts. */
export type ApplianceStatusWithSync = ApplianceStatus & { sync: SyncStatus };

/** Validation failures in the one shape; a bad path parameter is a bad service name. */
function invalid(result: { success: boolean; target: string; error?: unknown }, c: Context) {
  if (result.success) return;
  if (result.target === "param") {
    throw new ApiError(400, "invalid service name", { service: (c.req.param("name") ?? "").slice(0, 64) });
  }
  const { issues } = result.error as { issues: { path: PropertyKey[]; message: string }[] };
  const list = issues.map((i) => ({ path: i.path.join("."), message: i.message }));
  return c.json(errorBody(400, "invalid request", { issues: list }), 400);
}

type Action = "restart" | "stop" | "start";
/** The answer to restart, stop and start: `affects` lists the services sharing the unit's process. */
interface ActionResult {
  service: string;
  unit: string;
  action: Action;
  affects: string[];
  state: string | null;
}
type Live = (c: Context<Env>, caller: Principal, run: (sse: SseStream) => Promise<void> | void) => Response;

/** What the route handlers call: plain functions of the supervisor, the box and the logs. */
interface Ops {
  fullStatus(): Promise<ApplianceStatusWithSync>;
  sync(): Promise<SyncStatus>;
  logOf(name: string): LogSource;
  live: Live;
  unitAction(call: ApiCall, name: string, action: Action): Promise<ActionResult>;
  callOf(c: Context<Env>): ApiCall;
}

/** The appliance API: `handle` answers what the gateway routes to it; `app` also gives its OpenAPI paths. */
export function createApplianceApi(deps: ApplianceApiDeps) {
  const sync = createSyncWatch(deps.status.dataDir, deps.status.now);
  const calls = new WeakMap<IncomingMessage, ApiCall>();
  const ops: Ops = {
    fullStatus: async () => {
      const [status, syncNow] = await Promise.all([applianceStatus(deps.status), sync.read()]);
      const alerts = [...status.alerts, ...sync.alerts(), ...deps.backups.alerts()];
      return { ...status, alerts, sync: syncNow };
    },
    sync: () => sync.read(),
    logOf: (name) => logOf(deps, name),
    live: liveStreams(deps),
    unitAction: (call, name, action) => unitAction(deps, call, name, action),
    callOf: (c) => calls.get(c.env.incoming)!,
  };
  const app = newApp();
  app.use(async (c, next) => {
    const keys = [...new URL(c.req.url).searchParams.keys()];
    if (new Set(keys).size !== keys.length) throw new ApiError(400, "a query parameter is repeated");
    const h = c.env.incoming.headers;
    const hasBody = Number(h["content-length"] ?? 0) > 0 || h["transfer-encoding"];
    if (c.req.method === "POST" && hasBody && !TAKES_BODY.has(new URL(c.req.url).pathname)) {
      throw new ApiError(400, "this action takes no request body");
    }
    await next();
  });
  mountRoutes(app, ops);
  mountBackupRoutes(app, deps.backups);
  app.notFound(notFoundOr405(app));
  app.onError((err, c) => renderError(err, c, deps.log));

  const listener = getRequestListener(app.fetch, { overrideGlobalObjects: false });

  /** Answers one request the gateway has authorised (`req.url` is `/api/appliance/…`). */
  function handle(req: IncomingMessage, res: ServerResponse, call: ApiCall): Promise<void> {
    calls.set(req, call);
    return listener(req, res);
  }

  return { handle, access: APPLIANCE_ACCESS, app, openApi: async () => app };
}

const newApp = () => new OpenAPIHono<Env>({ defaultHook: invalid }).basePath(BASE);

/** Registers the routes of appliance-routes.ts with their handlers. */
function mountRoutes(app: ReturnType<typeof newApp>, ops: Ops) {
  app.openapi(r.statusRoute, async (c) => c.json(await ops.fullStatus(), 200));
  app.openapi(r.syncRoute, async (c) => c.json(await ops.sync(), 200));
  app.openapi(r.eventsRoute, (c) => {
    const { intervalMs } = c.req.valid("query");
    return ops.live(c, ops.callOf(c).principal, async (sse) => {
      while (!sse.signal.aborted) {
        await sse.send("status", await ops.fullStatus());
        await abortableSleep(intervalMs, sse.signal);
      }
    }) as never;
  });
  app.openapi(r.logsRoute, (c) => {
    const { name } = c.req.valid("param");
    const q = c.req.valid("query");
    return c.json({ service: name, lines: tailLog(ops.logOf(name), q.lines, matcher(q.filter)).lines }, 200);
  });
  app.openapi(r.followRoute, (c) => {
    const { name } = c.req.valid("param");
    const q = c.req.valid("query");
    const src = ops.logOf(name);
    const match = matcher(q.filter);
    return ops.live(c, ops.callOf(c).principal, async (sse) => {
      const first = tailLog(src, q.lines, match);
      await sse.send("lines", { lines: first.lines });
      const onBatch = (batch: string[]) => {
        const kept = match ? batch.filter(match) : batch;
        if (kept.length) void sse.send("lines", { lines: kept });
      };
      await followLog(src, first.end, onBatch, sse.signal);
    }) as never;
  });
  app.openapi(r.downloadRoute, (c) => {
    const { name } = c.req.valid("param");
    return downloadResponse(name, ops.logOf(name), c.req.method === "HEAD") as never;
  });
  for (const [action, summary] of [
    ["restart", "Restart a service's unit now, also out of crash loop or a stop"],
    ["stop", "Stop a service's unit and keep it stopped until start (409 for identity)"],
    ["start", "Start a stopped service's unit (or one in crash loop)"],
  ] as const) {
    app.openapi(r.actionRoute(action, summary), async (c) =>
      c.json(await ops.unitAction(ops.callOf(c), c.req.valid("param").name, action), 202),
    );
  }
}

/** The log of a service (or of nats, the supervisor); 404 for a name that is none of them. */
function logOf(deps: ApplianceApiDeps, name: string): LogSource {
  const known = name === "nats" || name === "supervisor" || deps.units.status().some((s) => s.name === name);
  if (!known) throw new ApiError(404, "no such service", { service: name });
  try {
    return logSource(deps.logsDir, name);
  } catch {
    throw new ApiError(404, "no log yet", { service: name });
  }
}

/** SSE answers that end when the client leaves or the caller loses `appliance:read`; 429 over budget. */
function liveStreams(deps: ApplianceApiDeps): Live {
  const budget = streamBudget(deps.streams);
  return (c, caller, run) => {
    // HEAD: the headers only; a stream nobody reads would hold its slot until the connection closes.
    if (c.req.method === "HEAD") {
      return c.body(null, 200, { "content-type": "text/event-stream; charset=utf-8" });
    }
    const slot = budget.take(caller.id);
    if ("full" in slot) {
      const whose = slot.full === "user" ? "for this user" : "on this box";
      throw new ApiError(429, `too many live streams open ${whose}; close one first`, { limit: slot.limit });
    }
    const req = c.env.incoming;
    req.socket.setTimeout(0);
    return sseResponse(c, (sse) => {
      const recheck = setInterval(async () => {
        try {
          const p = await deps.auth({ method: "GET", path: req.url ?? "", headers: req.headers });
          if (!p || !hasPermission(p.permissions, READ)) sse.close();
        } catch (err) {
          // identity briefly unreachable is no verdict on the caller: check again next time.
          if (!(err instanceof AuthUnavailableError)) sse.close();
        }
      }, RECHECK_MS);
      sse.signal.addEventListener("abort", () => {
        slot.release();
        clearInterval(recheck);
      });
      return run(sse);
    });
  };
}

/** restart, stop or start a service's unit; stopping the unit that holds identity is refused (409). */
async function unitAction(
  deps: ApplianceApiDeps,
  call: ApiCall,
  name: string,
  action: Action,
): Promise<ActionResult> {
  const row = deps.units.status().find((s) => s.name === name);
  if (!row) throw new ApiError(404, "no such service", { service: name });
  const sharesUnit = deps.units
    .status()
    .filter((s) => s.unit === row.unit)
    .map((s) => s.name);
  if (action === "stop" && sharesUnit.includes(LOCKOUT_SERVICE)) {
    throw new ApiError(
      409,
      row.name === LOCKOUT_SERVICE
        ? "identity cannot be stopped from the console: nobody could log in again. Restart it instead, or use `nexus stop` on the box"
        : `${row.name} runs in one process with identity (shared isolation): stopping it would lock everybody out`,
      { service: row.name, unit: row.unit },
    );
  }
  deps.log.info(
    { reqId: call.reqId, actor: call.principal.username ?? call.principal.id, service: row.name, action },
    "service action",
  );
  if (action === "restart") await deps.units.restartUnit(row.unit);
  else if (action === "stop") await deps.units.stopUnit(row.unit);
  else deps.units.startUnit(row.unit);
  const after = deps.units.status().find((s) => s.name === row.name);
  return { service: row.name, unit: row.unit, action, affects: sharesUnit, state: after?.state ?? null };
}

export type ApplianceApi = ReturnType<typeof createApplianceApi>;

/** Resolves after `ms`, or at once when `signal` aborts. */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
