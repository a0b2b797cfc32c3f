/**
 * The service hosts' own metrics for the gateway's /metrics: one `GET /internal/metrics` per running host
 * process (in shared isolation several services share one process: it is asked once), labelled with its unit.
 * Like the OpenAPI aggregation, a host that does not answer in time is left out rather than failing the page.
 * nats-server is not Node and has no such endpoint: its CPU, memory and descriptors are read from /proc.
 */
import { type MetricFamily, procFamilies, withLabel } from "../lib/metrics/index.js";

/** What the gateway needs of a status row to find each host process. */
export interface UnitRow {
  unit: string;
  state: string;
  port: number | null;
}

// Hosts are asked in parallel; well inside Prometheus's default 10 s scrape timeout.
const TIMEOUT_MS = 5000;

/** One port per running unit (its first service that listens). */
export function unitPorts(rows: readonly UnitRow[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rows) if (r.state === "running" && r.port && !out.has(r.unit)) out.set(r.unit, r.port);
  return out;
}

/** Every running host's families, each sample labelled `unit="<unit>"`; hosts that fail are skipped. */
export async function scrapeUnits(rows: readonly UnitRow[], internalToken: string): Promise<MetricFamily[]> {
  const results = await Promise.all(
    [...unitPorts(rows)].map(async ([unit, port]) => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/internal/metrics`, {
          signal: AbortSignal.timeout(TIMEOUT_MS),
          headers: { "x-nexus-internal": internalToken },
        });
        if (!res.ok) {
          await res.body?.cancel();
          return [];
        }
        return withLabel((await res.json()) as MetricFamily[], "unit", unit);
      } catch {
        return [];
      }
    }),
  );
  return results.flat();
}

/** Every child process's families: the service hosts' (asked) and nats-server's (`unit="nats"`, from /proc). */
export async function childProcessMetrics(
  rows: readonly UnitRow[],
  natsPid: number | null,
  internalToken: string,
): Promise<MetricFamily[]> {
  const nats = natsPid ? withLabel(procFamilies(natsPid), "unit", "nats") : [];
  return [...(await scrapeUnits(rows, internalToken)), ...nats];
}
