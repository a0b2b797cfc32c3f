/** Readiness probes: GET /ready on each service port of a unit. */
import { loopbackRequest } from "../lib/loopback-http.js";
import type { UnitStatus } from "./state.js";

/** True when the service on `port` answers /ready with 2xx within `timeoutMs`. */
export async function probeReady(port: number, timeoutMs = 2000): Promise<boolean> {
  try {
    const res = await loopbackRequest(port, "/ready", { timeoutMs });
    return res.status >= 200 && res.status < 300;
  } catch {
    return false;
  }
}

/** True when every port answers ready. */
export async function unitReady(ports: number[], timeoutMs?: number): Promise<boolean> {
  const results = await Promise.all(ports.map((p) => probeReady(p, timeoutMs)));
  return results.every(Boolean);
}

export interface HealthContext {
  now: number;
  /** When each unit was last probed, by name; updated here. */
  lastProbe: Map<string, number>;
  intervalMs: number;
  /** The ports to probe of a unit (its services that started). */
  portsOf: (u: UnitStatus) => number[];
  /** A starting unit answered ready. */
  onReady: (u: UnitStatus) => void;
  /** A running unit failed a probe. */
  onUnhealthy: () => void;
}

/** Probes the starting units every 100 ms and the running ones every `intervalMs`; counts health failures. */
export async function probeUnits(units: UnitStatus[], ctx: HealthContext): Promise<void> {
  await Promise.all(
    units.map(async (u) => {
      if (u.state !== "starting" && u.state !== "running") return;
      const last = ctx.lastProbe.get(u.spec.name) ?? 0;
      const interval = u.state === "starting" ? 100 : ctx.intervalMs;
      if (ctx.now - last < interval) return;
      ctx.lastProbe.set(u.spec.name, ctx.now);
      const ports = ctx.portsOf(u);
      const ok = ports.length > 0 && (await unitReady(ports));
      if (u.state === "starting" && ok) {
        u.healthFailures = 0;
        ctx.onReady(u);
      } else if (u.state === "running") {
        u.healthFailures = ok ? 0 : u.healthFailures + 1;
        if (!ok) ctx.onUnhealthy();
      }
    }),
  );
}
