import { describe, expect, it } from "vitest";
import { GatewayMetrics, type ServiceGauge } from "../../appliance/gateway/metrics.js";

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
