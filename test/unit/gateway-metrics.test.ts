import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { GatewayMetrics, methodLabel, type ServiceGauge } from "../../appliance/gateway/metrics.js";
import { MetricsRegistry, withLabel } from "../../appliance/lib/metrics/index.js";

const gauge = (name: string, state: string, nextAttemptAt: string | null = null): ServiceGauge => ({
  name,
  state,
  restarts: 0,
  memoryBytes: null,
  nextAttemptAt,
  unit: name,
  logLinesDropped: 0,
});
const lines = (text: string, name: string) => text.split("\n").filter((l) => l.startsWith(`${name}{`));

describe("GatewayMetrics.render", () => {
  it("has a 0/1 state series for every state of every service, so none vanishes on a change", () => {
    const text = new GatewayMetrics().render([gauge("files", "crashloop"), gauge("system", "running")]);
    const states = lines(text, "nexus_service_state");
    const files = states.filter((l) => l.includes('service="files"'));
    expect(files).toContain('nexus_service_state{service="files",state="crashloop"} 1');
    expect(files).toContain('nexus_service_state{service="files",state="running"} 0');
    expect(files).toContain('nexus_service_state{service="files",state="failed"} 0');
    expect(files.filter((l) => l.endsWith(" 1"))).toHaveLength(1);
    expect(states.filter((l) => l.includes('service="system"'))).toHaveLength(files.length);
    expect(text).toContain('nexus_service_state{service="system",state="running"} 1');
  });

  it("gives the next attempt time, in unix seconds, of services waiting in crash loop or backoff", () => {
    const text = new GatewayMetrics().render([
      gauge("files", "crashloop", "2026-01-10T00:05:00.000Z"),
      gauge("media", "backoff", "2026-01-10T00:00:01.500Z"),
      gauge("system", "running"),
    ]);
    expect(text).toContain("# TYPE nexus_service_next_attempt_timestamp_seconds gauge");
    expect(lines(text, "nexus_service_next_attempt_timestamp_seconds")).toEqual([
      `nexus_service_next_attempt_timestamp_seconds{service="files"} ${Date.parse("2026-01-10T00:05:00Z") / 1000}`,
      `nexus_service_next_attempt_timestamp_seconds{service="media"} ${Date.parse("2026-01-10T00:00:01.5Z") / 1000}`,
    ]);
  });
});

describe("GatewayMetrics method label", () => {
  it("keeps the label bounded: known methods as they are, anything else as other", () => {
    expect(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].map(methodLabel)).toEqual([
      "GET",
      "HEAD",
      "POST",
      "PUT",
      "PATCH",
      "DELETE",
      "OPTIONS",
    ]);
    expect(["PROPFIND", "get", "TRACE"].map(methodLabel)).toEqual(["other", "other", "other"]);
  });

  it("labels requests and the latency histogram by method", () => {
    const m = new GatewayMetrics();
    m.observe("files", "PUT", 201, 0.02);
    m.observe("files", "GET", 200, 0.003);
    m.observe("files", "GET", 200, 0.004);
    m.observe("files", "MKCOL", 405, 0.001);
    const text = m.render([]);
    m.close();
    expect(text).toContain('nexus_http_requests_total{service="files",method="GET",code="200"} 2');
    expect(text).toContain('nexus_http_requests_total{service="files",method="PUT",code="201"} 1');
    expect(text).toContain('nexus_http_requests_total{service="files",method="other",code="405"} 1');
    expect(text).toContain('nexus_http_request_duration_seconds_count{service="files",method="GET"} 2');
    expect(text).toContain(
      'nexus_http_request_duration_seconds_bucket{service="files",method="PUT",le="0.025"} 1',
    );
  });
});

describe("GatewayMetrics page", () => {
  it("passes promtool check metrics with every process's families merged", async () => {
    const host = new MetricsRegistry();
    host.counter("nexus_files_upload_bytes_total", "Upload body bytes received.").inc(10);
    const units = async () => [
      ...withLabel(host.collect(), "unit", "files"),
      ...withLabel(new MetricsRegistry().collect(), "unit", "identity"),
    ];
    const m = new GatewayMetrics({ units });
    m.observe("files", "GET", 200, 0.01);
    m.reject("rate-limit");
    const text = m.render(
      [gauge("files", "running"), gauge("identity", "crashloop")],
      await m.processFamilies(),
    );
    m.close();
    expect(text).toContain('process_resident_memory_bytes{unit="supervisor"}');
    expect(text).toContain('nexus_files_upload_bytes_total{unit="files"} 10');
    const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(check.error, "promtool must be installed (installer/system-deps.sh)").toBeUndefined();
    expect(`${check.stdout}${check.stderr}`.trim()).toBe("");
    expect(check.status).toBe(0);
  });
});
