/** Per-service status rows, derived from unit state: what `nexus status`, /metrics and the console show. */
import { rssBytes } from "../lib/pidfile.js";
import { UNIT_STATES, type UnitStatus } from "./state.js";

/** Every state a service row can show: its unit's, or `failed` (it did not start inside a shared process). */
export const SERVICE_STATES = [...UNIT_STATES, "failed"] as const;

export interface ServiceStatus {
  name: string;
  unit: string;
  state: (typeof SERVICE_STATES)[number];
  pid: number | null;
  port: number | null;
  restarts: number;
  uptimeSeconds: number | null;
  memoryBytes: number | null;
  lastError: string | null;
  /** When a unit in `backoff` or `crashloop` is tried next (ISO time); null in any other state. */
  nextAttemptAt: string | null;
  /** Log lines the unit's processes dropped (full log disk); shared by the services of a shared unit. */
  logLinesDropped: number;
}

export function serviceStatuses(
  units: UnitStatus[],
  ports: ReadonlyMap<string, number>,
  failed: ReadonlyMap<string, ReadonlySet<string>>,
  now: number,
): ServiceStatus[] {
  return units.flatMap((u) => {
    const alive = u.state === "running" || u.state === "starting";
    const mem = alive && u.pid ? rssBytes(u.pid) : null;
    const waiting = u.state === "backoff" || u.state === "crashloop";
    return u.spec.services.map((name) => ({
      name,
      unit: u.spec.name,
      state: failed.get(u.spec.name)?.has(name) ? ("failed" as const) : u.state,
      pid: alive ? u.pid : null,
      port: ports.get(name) ?? null,
      restarts: u.restarts,
      uptimeSeconds: u.state === "running" && u.startedAt ? Math.round((now - u.startedAt) / 1000) : null,
      memoryBytes: mem,
      lastError: u.lastError,
      nextAttemptAt: waiting && u.nextStartAt !== null ? new Date(u.nextStartAt).toISOString() : null,
      logLinesDropped: u.logLinesDropped,
    }));
  });
}

/** Ports of the services that are up: their unit is running and they started in it. */
export function liveRoutes(
  units: UnitStatus[],
  ports: ReadonlyMap<string, number>,
  failedServices: ReadonlyMap<string, ReadonlySet<string>>,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const u of units) {
    if (u.state !== "running") continue;
    const failed = failedServices.get(u.spec.name);
    for (const s of u.spec.services) {
      const p = ports.get(s);
      if (p && !failed?.has(s)) out.set(s, p);
    }
  }
  return out;
}

/**
 * Resolves when every unit is running, rejects when one is in crash loop or `timeoutMs` passes; checks every
 * 100 ms.
 */
export function whenReady(units: () => UnitStatus[], now: () => number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = now() + timeoutMs;
    const check = () => {
      const all = units();
      if (all.every((u) => u.state === "running")) return done(resolve);
      const bad = all.find((u) => u.state === "crashloop");
      if (bad) return done(() => reject(new Error(`${bad.spec.name} is in crash loop: ${bad.lastError}`)));
      if (now() > deadline) return done(() => reject(new Error("services not ready in time")));
    };
    const t = setInterval(check, 100);
    const done = (f: () => void) => {
      clearInterval(t);
      f();
    };
    check();
  });
}
