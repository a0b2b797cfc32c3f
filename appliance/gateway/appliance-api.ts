/**
 * The gateway's own API under `/api/appliance/…`, for the console and scripts: box status (also as a live
 * SSE stream, with the sync status), sync with the hub, service restart/stop/start, and service logs (tail,
 * live follow, download). The gateway has
 * already authenticated the caller, checked CSRF and the permission of `APPLIANCE_ACCESS` before `handle`.
 * `appliance` is reserved: no service may take the name (startAppliance refuses it).
 * Thin routes: the work is in appliance/box (status), appliance/sync-status.ts (through ./appliance-sync.ts)
 * and appliance/supervisor (units, log files).
 */
import { createReadStream } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createInterface } from "node:readline";
import { z } from "zod";
import { type ApplianceStatus, applianceStatus, type StatusSources } from "../box/status.js";
import {
  type AccessRule,
  checkPermissions,
  errorBody,
  hasPermission,
  type Logger,
  type PermissionDeclarations,
  rule,
} from "../kit/index.js";
import { followLog, type LogSource, logSource, tailLog } from "../supervisor/log-files.js";
import type { ServiceStatus } from "../supervisor/status.js";
import type { SyncStatus } from "../sync-status.js";
import { createSyncWatch } from "./appliance-sync.js";
import type { AuthHook, Principal } from "./auth.js";
import { openSse, type StreamLimits, streamBudget } from "./sse.js";

export const APPLIANCE_API = "appliance";
const READ = "appliance:read";
const WRITE = "appliance:write";

/** The gateway's own permissions, declared like a service's (identity composes the built-in roles from them). */
export const APPLIANCE_PERMISSIONS = {
  [READ]: {
    description: "See the box's status, services, sync and logs; read /metrics and the OpenAPI document",
    roles: ["operator"],
  },
  [WRITE]: { description: "Restart, stop and start services", roles: ["operator"] },
} satisfies PermissionDeclarations;

/** Route permissions, checked by the gateway like a service's `access` rules. */
export const APPLIANCE_ACCESS: readonly AccessRule[] = [
  rule("GET", "/status", READ),
  rule("GET", "/events", READ),
  rule("GET", "/sync", READ),
  rule("GET", "/services/:name/logs", READ),
  rule("GET", "/services/:name/logs/*", READ),
  rule("POST", "/services/:name/*", WRITE),
];
checkPermissions(APPLIANCE_API, APPLIANCE_PERMISSIONS, APPLIANCE_ACCESS);

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
  /** Open SSE streams at most (status and log follows together), for the box and per caller; more get 429. */
  streams: StreamLimits;
}

export interface ApiCall {
  /** Path after `/api/appliance`. */
  rest: string;
  search: string;
  principal: Principal;
  reqId: string;
}

/** Stopping it from the console would lock everybody out of the console and the API. */
const LOCKOUT_SERVICE = "identity";
/** How often a live stream checks that its caller may still read (session revoked, role changed). */
const RECHECK_MS = 15_000;

const name = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, "name: lower-case letters, digits and '-'");
const filter = z.string().max(200).optional();
const tailQuery = z.object({ lines: z.coerce.number().int().min(1).max(5000).default(200), filter }).strict();
const eventsQuery = z
  .object({ intervalMs: z.coerce.number().int().min(500).max(60_000).default(2000) })
  .strict();
const noQuery = z.object({}).strict();

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly data: unknown = null,
  ) {
    super(message);
  }
}

function reply(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** Validates the query string; a repeated parameter is refused rather than one copy silently winning. */
function query<T extends z.ZodType>(schema: T, search: string): z.infer<T> {
  const params = new URLSearchParams(search);
  const keys = [...params.keys()];
  if (new Set(keys).size !== keys.length) throw new Refusal(400, "a query parameter is repeated");
  const r = schema.safeParse(Object.fromEntries(params));
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
    throw new Refusal(400, "invalid request", { issues });
  }
  return r.data;
}

/** A case-insensitive substring match (no regular expressions from callers: nothing to backtrack on). */
function matcher(text: string | undefined): ((line: string) => boolean) | undefined {
  if (!text) return undefined;
  const needle = text.toLowerCase();
  return (line) => line.toLowerCase().includes(needle);
}

/** The box's status with its sync status; the sync backlog alert joins the box's alerts. */
export type ApplianceStatusWithSync = ApplianceStatus & { sync: SyncStatus };

export function createApplianceApi(deps: ApplianceApiDeps) {
  const budget = streamBudget(deps.streams);
  const sync = createSyncWatch(deps.status.dataDir, deps.status.now);

  const fullStatus = async (): Promise<ApplianceStatusWithSync> => {
    const [status, syncNow] = await Promise.all([applianceStatus(deps.status), sync.read()]);
    return { ...status, alerts: [...status.alerts, ...sync.alerts()], sync: syncNow };
  };

  const serviceRow = (raw: string): ServiceStatus => {
    const n = name.safeParse(raw);
    if (!n.success) throw new Refusal(400, "invalid service name", { service: raw.slice(0, 64) });
    const row = deps.units.status().find((s) => s.name === n.data);
    if (!row) throw new Refusal(404, "no such service", { service: n.data });
    return row;
  };

  const logOf = (raw: string): LogSource => {
    const n = name.safeParse(raw);
    if (!n.success) throw new Refusal(400, "invalid service name", { service: raw.slice(0, 64) });
    const known =
      n.data === "nats" || n.data === "supervisor" || deps.units.status().some((s) => s.name === n.data);
    if (!known) throw new Refusal(404, "no such service", { service: n.data });
    try {
      return logSource(deps.logsDir, n.data);
    } catch {
      throw new Refusal(404, "no log yet", { service: n.data });
    }
  };

  /** Opens an SSE stream that ends when the client leaves or its caller loses `appliance:read`. */
  const stream = (req: IncomingMessage, res: ServerResponse, call: ApiCall) => {
    const slot = budget.take(call.principal.id);
    if ("full" in slot) {
      const whose = slot.full === "user" ? "for this user" : "on this box";
      throw new Refusal(429, `too many live streams open ${whose}; close one first`, { limit: slot.limit });
    }
    const sse = openSse(req, res);
    const recheck = setInterval(async () => {
      const p = await deps.auth({ method: "GET", path: req.url ?? "", headers: req.headers });
      if (!p || !hasPermission(p.permissions, READ)) sse.close();
    }, RECHECK_MS);
    sse.signal.addEventListener("abort", () => {
      slot.release();
      clearInterval(recheck);
    });
    return sse;
  };

  async function unitAction(res: ServerResponse, call: ApiCall, service: string, action: string) {
    const row = serviceRow(service);
    const sharesUnit = deps.units
      .status()
      .filter((s) => s.unit === row.unit)
      .map((s) => s.name);
    if (action === "stop" && sharesUnit.includes(LOCKOUT_SERVICE)) {
      throw new Refusal(
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
    return reply(res, 202, {
      service: row.name,
      unit: row.unit,
      action,
      affects: sharesUnit,
      state: after?.state ?? null,
    });
  }

  async function route(req: IncomingMessage, res: ServerResponse, call: ApiCall): Promise<void> {
    const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
    const { rest, search } = call;
    if (method === "GET" && rest === "/status") {
      query(noQuery, search);
      return reply(res, 200, await fullStatus());
    }
    if (method === "GET" && rest === "/sync") {
      query(noQuery, search);
      return reply(res, 200, await sync.read());
    }
    if (method === "GET" && rest === "/events") {
      const q = query(eventsQuery, search);
      const sse = stream(req, res, call);
      const tick = async () => {
        if (!sse.signal.aborted) sse.send("status", await fullStatus());
      };
      const timer = setInterval(() => void tick().catch(() => sse.close()), q.intervalMs);
      sse.signal.addEventListener("abort", () => clearInterval(timer));
      return tick();
    }
    const logs = /^\/services\/([^/]+)\/logs(\/follow|\/download)?$/.exec(rest);
    if (method === "GET" && logs) {
      const src = logOf(logs[1]!);
      if (!logs[2]) {
        const q = query(tailQuery, search);
        return reply(res, 200, { service: logs[1], lines: tailLog(src, q.lines, matcher(q.filter)).lines });
      }
      if (logs[2] === "/follow") {
        const q = query(tailQuery, search);
        const match = matcher(q.filter);
        const first = tailLog(src, q.lines, match);
        const sse = stream(req, res, call);
        sse.send("lines", { lines: first.lines });
        void followLog(
          src,
          first.end,
          (batch) => {
            const kept = match ? batch.filter(match) : batch;
            if (kept.length) sse.send("lines", { lines: kept });
          },
          sse.signal,
        ).catch(() => sse.close());
        return;
      }
      query(noQuery, search);
      return download(res, logs[1]!, src);
    }
    const action = /^\/services\/([^/]+)\/(restart|stop|start)$/.exec(rest);
    if (method === "POST" && action) {
      query(noQuery, search);
      if (Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"]) {
        throw new Refusal(400, "this action takes no request body");
      }
      return unitAction(res, call, action[1]!, action[2]!);
    }
    throw new Refusal(404, "no such route", { path: `/api/${APPLIANCE_API}${rest}` });
  }

  /** Handles one request the gateway has authorised; every refusal is `{ status, message, data }`. */
  async function handle(req: IncomingMessage, res: ServerResponse, call: ApiCall): Promise<void> {
    try {
      await route(req, res, call);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      if (res.headersSent) return void res.destroy();
      reply(res, err.status, errorBody(err.status, err.message, err.data));
    }
  }

  return { handle, access: APPLIANCE_ACCESS };
}

export type ApplianceApi = ReturnType<typeof createApplianceApi>;

/** Streams a log as a text attachment; the shared unit's file is cut down to the lines of the service asked. */
function download(res: ServerResponse, service: string, src: LogSource) {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
  res.writeHead(200, {
    "content-type": "text/plain; charset=utf-8",
    "content-disposition": `attachment; filename="${service}-${stamp}.log"`,
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
  });
  const file = createReadStream(src.file);
  file.on("error", () => res.destroy());
  res.on("close", () => file.destroy());
  if (src.whole) {
    file.pipe(res);
    return;
  }
  const lines = createInterface({ input: file, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on("line", (l) => {
    if (l && src.keep(l)) res.write(`${l}\n`);
  });
  lines.on("close", () => res.end());
}
