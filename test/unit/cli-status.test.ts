import { describe, expect, it } from "vitest";
import { statusTable } from "../../appliance/cli/status.js";
import { clockTime, nextTry } from "../../appliance/lib/format.js";
import type { ServiceStatus } from "../../appliance/supervisor/status.js";

const row = (over: Partial<ServiceStatus>): ServiceStatus => ({
  name: "system",
  unit: "system",
  state: "running",
  pid: 1234,
  port: 4000,
  restarts: 0,
  logLinesDropped: 0,
  uptimeSeconds: 75,
  memoryBytes: 50 * 1024 * 1024,
  lastError: null,
  nextAttemptAt: null,
  ...over,
});

describe("nexus status table", () => {
  it("shows the local time a service in crash loop is tried next, and - for the others", () => {
    // Built from local time, so the expectation holds in any time zone.
    const next = new Date(2026, 0, 10, 14, 3, 7).toISOString();
    const lines = statusTable([
      row({}),
      row({
        name: "files",
        state: "crashloop",
        pid: null,
        restarts: 6,
        uptimeSeconds: null,
        memoryBytes: null,
        nextAttemptAt: next,
      }),
    ]).split("\n");
    expect(lines[0]).toMatch(/^SERVICE\s+STATE\s+PID\s+RESTARTS\s+UPTIME\s+MEMORY\s+NEXT TRY$/);
    expect(lines[1]).toMatch(/^system\s+running\s+1234\s+0\s+1m15s\s+50 MB\s+-$/);
    expect(lines[2]).toMatch(/^files\s+crashloop\s+-\s+6\s+-\s+-\s+14:03:07$/);
  });

  it("clockTime gives - for no time or a bad one", () => {
    expect(clockTime(null)).toBe("-");
    expect(clockTime("not a time")).toBe("-");
  });
});

describe("nextTry (the console's line under a service's state)", () => {
  it("says when a service in crash loop or backoff is tried next, in local time", () => {
    const at = new Date(2026, 0, 10, 9, 5, 0).toISOString();
    expect(nextTry({ state: "crashloop", nextAttemptAt: at })).toBe("crash loop — next try at 09:05:00");
    expect(nextTry({ state: "backoff", nextAttemptAt: at })).toBe("restarting — next try at 09:05:00");
    expect(nextTry({ state: "running", nextAttemptAt: null })).toBeNull();
  });
});
