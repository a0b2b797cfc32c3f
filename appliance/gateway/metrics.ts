/** Gateway metrics, rendered as Prometheus text exposition format 0.0.4. */
import type { DiskRoom } from "../kit/disk.js";
import {
  type MetricFamily,
  MetricsRegistry,
  mergeFamilies,
  renderFamilies,
  startProcessSampler,
  withLabel,
} from "../lib/metrics/index.js";
import { SERVICE_STATES } from "../supervisor/status.js";

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export interface ServiceGauge {
  name: string;
  state: string;
  restarts: number;
  memoryBytes: number | null;
  /** When a service waiting in `crashloop` or `backoff` is tried next (ISO time). */
  nextAttemptAt: string | null;
  unit: string;
  logLinesDropped: number;
}

/** Backups' outcomes (appliance/backup/jobs.ts), for the `nexus_backup_*` series. */
export interface BackupGauges {
  lastSuccessAt: string | null;
  lastDurationSeconds: number | null;
  lastBytes: number | null;
  failuresTotal: number;
  running: boolean;
}

/** Box-wide readings: the data disk against its reserve, the supervisor's own dropped log lines, backups. */
export interface BoxGauges {
  disk: DiskRoom | null;
  supervisorLogLinesDropped: number;
  backup?: BackupGauges;
}

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

/**
 * Per-service gauges. The state gauge has a series for every state (1 for the current one, 0 for the rest)
 * so that an alert on `state="crashloop"` sees 0, not a vanished series, once the service recovers.
 */
function serviceLines(services: ServiceGauge[]): string[] {
  const out: string[] = [
    "# HELP nexus_service_up 1 when the service is running and ready.",
    "# TYPE nexus_service_up gauge",
  ];
  for (const s of services)
    out.push(`nexus_service_up{service="${esc(s.name)}"} ${s.state === "running" ? 1 : 0}`);
  out.push(
    "# HELP nexus_service_state Current state of each service: 1 for the current one, 0 for the others.",
  );
  out.push("# TYPE nexus_service_state gauge");
  for (const s of services) {
    const states: readonly string[] = SERVICE_STATES.some((x) => x === s.state)
      ? SERVICE_STATES
      : [...SERVICE_STATES, s.state];
    for (const state of states)
      out.push(
        `nexus_service_state{service="${esc(s.name)}",state="${esc(state)}"} ${state === s.state ? 1 : 0}`,
      );
  }
  out.push(
    "# HELP nexus_service_next_attempt_timestamp_seconds When a service in crash loop or backoff is started next.",
  );
  out.push("# TYPE nexus_service_next_attempt_timestamp_seconds gauge");
  for (const s of services) {
    if (s.nextAttemptAt === null) continue;
    const at = Date.parse(s.nextAttemptAt) / 1000;
    out.push(`nexus_service_next_attempt_timestamp_seconds{service="${esc(s.name)}"} ${at}`);
  }
  out.push("# HELP nexus_service_restarts_total Restarts since the supervisor started.");
  out.push("# TYPE nexus_service_restarts_total counter");
  for (const s of services) out.push(`nexus_service_restarts_total{service="${esc(s.name)}"} ${s.restarts}`);
  out.push("# HELP nexus_service_memory_bytes Resident memory of the service's process.");
  out.push("# TYPE nexus_service_memory_bytes gauge");
  for (const s of services) {
    if (s.memoryBytes !== null)
      out.push(`nexus_service_memory_bytes{service="${esc(s.name)}"} ${s.memoryBytes}`);
  }
  return out;
}

/** The methods that get their own `method` label value; anything else is "other" (label values stay bounded). */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** `method` as a label value: one of METHODS, or "other". */
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : "other";
}

export interface GatewayMetricsOptions {
  /** The child processes' families, labelled by unit (see unit-metrics.ts); none when not given. */
  units?: () => Promise<MetricFamily[]>;
  /** The counts of the shared host's gateway (shared isolation), added to this gateway's on /metrics. */
  remote?: () => Promise<GatewayCounts | null>;
}

/** A gateway's request, latency and rejection counts, as one process hands them to another. */
export interface GatewayCounts {
  requests: [string, number][];
  latency: [string, Histogram][];
  rejected: [string, number][];
}

interface Series {
  name: string;
  h: Histogram;
  keys: Map<number, string>;
}

/** The supervisor/gateway process's own label on the process families. */
const OWN_UNIT = "supervisor";

export class GatewayMetrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  /** service → method label → its series (the `latency` entry and the `requests` keys by status). */
  private readonly series = new Map<string, Map<string, Series>>();
  private readonly rejected = new Map<string, number>();
  private readonly own = new MetricsRegistry(startProcessSampler());
  private remote: GatewayCounts | null = null;

  constructor(private readonly opts: GatewayMetricsOptions = {}) {}

  /** Records one proxied request. */
  observe(service: string, method: string, status: number, seconds: number): void {
    const series = this.seriesOf(service, methodLabel(method));
    let key = series.keys.get(status);
    if (key === undefined) {
      key = `${series.name}\u0000${status}`;
      series.keys.set(status, key);
    }
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const h = series.h;
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.counts[i]!++;
    h.sum += seconds;
    h.count++;
  }

  /** The histogram and key strings of one service and method, found without building strings per request. */
  private seriesOf(service: string, method: string): Series {
    let byMethod = this.series.get(service);
    if (!byMethod) {
      byMethod = new Map();
      this.series.set(service, byMethod);
    }
    let series = byMethod.get(method);
    if (!series) {
      const name = `${service}\u0000${method}`;
      const h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.latency.set(name, h);
      series = { name, h, keys: new Map() };
      byMethod.set(method, series);
    }
    return series;
  }

  /** Records a request the gateway answered itself with an error (rate limit, body size, path, auth). */
  reject(reason: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  /**
   * The whole /metrics page: service states, proxied requests, rejections, and `processes` (what
   * `processFamilies()` collected; it is asynchronous, so the caller awaits it first), and the box's disk and
   * dropped-log readings.
   */
  render(services: ServiceGauge[], processes: MetricFamily[] = [], box?: BoxGauges): string {
    const out = [
      ...serviceLines(services),
      ...this.requestLines(),
      ...this.rejectedLines(),
      ...(box ? boxLines(services, box) : []),
      ...renderFamilies(processes),
    ];
    return `${out.join("\n")}\n`;
  }

  /** This gateway's counts, for the supervisor's /metrics (see GatewayMetricsOptions.remote). */
  snapshot(): GatewayCounts {
    return { requests: [...this.requests], latency: [...this.latency], rejected: [...this.rejected] };
  }

  /** Stops measuring this process's event loop. */
  close(): void {
    this.own.stop();
  }

  private requestLines(): string[] {
    const requests = addCounts(this.requests, this.remote?.requests);
    const latency = new Map([...this.latency].map(([k, h]) => [k, { ...h, counts: [...h.counts] }]));
    for (const [k, h] of this.remote?.latency ?? []) {
      const mine = latency.get(k);
      if (!mine) latency.set(k, h);
      else {
        h.counts.forEach((n, i) => {
          mine.counts[i] = (mine.counts[i] ?? 0) + n;
        });
        mine.sum += h.sum;
        mine.count += h.count;
      }
    }
    const out = [
      "# HELP nexus_http_requests_total Requests proxied to services, by method and status code.",
      "# TYPE nexus_http_requests_total counter",
    ];
    for (const [key, n] of requests) {
      const [svc, method, code] = key.split("\u0000");
      out.push(`nexus_http_requests_total{service="${esc(svc!)}",method="${method}",code="${code}"} ${n}`);
    }
    out.push("# HELP nexus_http_request_duration_seconds Latency of proxied requests.");
    out.push("# TYPE nexus_http_request_duration_seconds histogram");
    for (const [series, h] of latency) {
      const [svc, method] = series.split("\u0000");
      const labels = `service="${esc(svc!)}",method="${method}"`;
      BUCKETS.forEach((b, i) => {
        out.push(`nexus_http_request_duration_seconds_bucket{${labels},le="${b}"} ${h.counts[i]}`);
      });
      out.push(`nexus_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
      out.push(`nexus_http_request_duration_seconds_sum{${labels}} ${h.sum}`);
      out.push(`nexus_http_request_duration_seconds_count{${labels}} ${h.count}`);
    }
    return out;
  }

  private rejectedLines(): string[] {
    const out = [
      "# HELP nexus_gateway_rejected_total Requests the gateway refused itself, by reason.",
      "# TYPE nexus_gateway_rejected_total counter",
    ];
    for (const [reason, n] of addCounts(this.rejected, this.remote?.rejected))
      out.push(`nexus_gateway_rejected_total{reason="${esc(reason)}"} ${n}`);
    return out;
  }

  /** This process's families and each service host's, one family per name, labelled by `unit`. */
  async processFamilies(): Promise<MetricFamily[]> {
    // Fetched here, as the caller awaits this before render(): the shared host's counts as of this scrape.
    this.remote = (await this.opts.remote?.().catch(() => null)) ?? null;
    const own = withLabel(this.own.collect(), "unit", OWN_UNIT);
    const units = (await this.opts.units?.()) ?? [];
    return mergeFamilies([...own, ...units]);
  }
}

/** `mine` plus `theirs`, key by key (a new map). */
function addCounts(mine: Map<string, number>, theirs: [string, number][] = []): Map<string, number> {
  const out = new Map(mine);
  for (const [k, n] of theirs) out.set(k, (out.get(k) ?? 0) + n);
  return out;
}

function boxLines(services: ServiceGauge[], box: BoxGauges): string[] {
  const out: string[] = [];
  if (box.disk) {
    out.push(
      "# HELP nexus_disk_available_bytes Bytes available on the data disk.",
      "# TYPE nexus_disk_available_bytes gauge",
      `nexus_disk_available_bytes ${box.disk.availableBytes}`,
      "# HELP nexus_disk_reserve_bytes Bytes of the data disk held back for the box; uploads stop there.",
      "# TYPE nexus_disk_reserve_bytes gauge",
      `nexus_disk_reserve_bytes ${box.disk.reserveBytes}`,
      "# HELP nexus_disk_upload_room_bytes What uploads may still use: available minus the reserve.",
      "# TYPE nexus_disk_upload_room_bytes gauge",
      `nexus_disk_upload_room_bytes ${Math.max(0, box.disk.roomBytes)}`,
    );
  }
  out.push(
    "# HELP nexus_log_lines_dropped_total Log lines that could not be written (full log disk), by unit.",
    "# TYPE nexus_log_lines_dropped_total counter",
    `nexus_log_lines_dropped_total{unit="supervisor"} ${box.supervisorLogLinesDropped}`,
  );
  const units = new Map(services.map((s) => [s.unit, s.logLinesDropped]));
  for (const [unit, n] of units) out.push(`nexus_log_lines_dropped_total{unit="${esc(unit)}"} ${n}`);
  if (box.backup) out.push(...backupLines(box.backup));
  return out;
}

/** A series is left out until there is a value (no success yet: no timestamp, rather than a fake 0). */
function backupLines(b: BackupGauges): string[] {
  const gauge = (name: string, help: string, value: number | null) =>
    value === null ? [] : [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`];
  return [
    ...gauge(
      "nexus_backup_last_success_timestamp_seconds",
      "When the last successful backup finished (Unix time).",
      b.lastSuccessAt ? Date.parse(b.lastSuccessAt) / 1000 : null,
    ),
    ...gauge(
      "nexus_backup_duration_seconds",
      "How long the last backup ran, ok or not.",
      b.lastDurationSeconds,
    ),
    ...gauge(
      "nexus_backup_bytes",
      "Size of the last successful backup (its parts and the blobs it references).",
      b.lastBytes,
    ),
    "# HELP nexus_backup_failures_total Backups that failed.",
    "# TYPE nexus_backup_failures_total counter",
    `nexus_backup_failures_total ${b.failuresTotal}`,
    ...gauge("nexus_backup_running", "1 while a backup job runs.", b.running ? 1 : 0),
  ];
}
