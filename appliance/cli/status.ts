/** `nexus status`'s table: one row per service, with when a service in crash loop or backoff is tried next. */

import { bytes, clockTime, duration, table } from "../lib/format.js";
import type { ServiceStatus } from "../supervisor/status.js";
import type { UpgradeOutcome } from "../upgrade/marker.js";

export function statusTable(services: ServiceStatus[]): string {
  return table(
    ["SERVICE", "STATE", "PID", "RESTARTS", "UPTIME", "MEMORY", "NEXT TRY"],
    services.map((x) => [
      x.name,
      x.state,
      x.pid ? String(x.pid) : "-",
      String(x.restarts),
      duration(x.uptimeSeconds),
      bytes(x.memoryBytes),
      clockTime(x.nextAttemptAt),
    ]),
  );
}

/** The last upgrade, one line: committed, or rolled back and why. */
export function upgradeLine(u: UpgradeOutcome): string {
  return u.outcome === "committed"
    ? `Last upgrade: ${u.from} → ${u.to} committed at ${u.at}.`
    : `Last upgrade: ${u.from} → ${u.to} ROLLED BACK at ${u.at}: ${u.reason ?? "no reason recorded"}`;
}
