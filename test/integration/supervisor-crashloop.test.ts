/**
 * Crash loop with real processes: a service that fails at start while a marker file exists in the data dir
 * (`flaky`) is parked in `crashloop`, retried later with growing pauses, and serves again once the marker is
 * gone. Small policy values through NEXUS_SUPERVISOR_* keep it quick; every wait is a condition with a
 * deadline, never a sleep.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { UnitStatus } from "../../appliance/supervisor/state.js";
import { FLAKY_MARKER } from "../fixtures/services.js";
import { removeDir, startTestAppliance, type TestAppliance, waitFor } from "../helpers/appliance.js";

let app: TestAppliance | null = null;
afterEach(async () => {
  if (app) {
    await app.stop();
    removeDir(app.dataDir);
    app = null;
  }
});

const svc = (a: TestAppliance, name: string) => a.supervisor.status().find((s) => s.name === name)!;
const unit = (a: TestAppliance): UnitStatus => a.supervisor.current.units.flaky!;

/** The wait a unit now in crash loop was given: from its last failure to its next attempt. */
const lastDelay = (u: UnitStatus) => (u.nextStartAt ?? 0) - (u.failures.at(-1) ?? 0);

/** Starts echo and flaky, flaky failing from the first start on; waits until flaky is in crash loop. */
async function startCrashLooping(
  retryBaseMs: number,
  retryMaxMs: number,
  policy: Record<string, string> = {},
): Promise<TestAppliance> {
  const a = await startTestAppliance({
    services: ["echo", "flaky"],
    waitReady: false,
    beforeStart: (dir) => writeFileSync(join(dir, FLAKY_MARKER), ""),
    env: {
      NEXUS_SUPERVISOR_CRASH_LOOP_THRESHOLD: "3",
      // Wide enough that three failed starts of a slow (loaded) test machine still fall inside it.
      NEXUS_SUPERVISOR_CRASH_LOOP_WINDOW_MS: "60000",
      NEXUS_SUPERVISOR_BACKOFF_BASE_MS: "50",
      NEXUS_SUPERVISOR_CRASH_LOOP_RETRY_BASE_MS: String(retryBaseMs),
      NEXUS_SUPERVISOR_CRASH_LOOP_RETRY_MAX_MS: String(retryMaxMs),
      ...policy,
    },
  });
  app = a;
  await waitFor(() => svc(a, "flaky").state === "crashloop", 60_000, "flaky in crash loop");
  return a;
}

/** A /metrics reading taken while flaky is in crash loop. */
async function crashLoopMetrics(a: TestAppliance): Promise<string> {
  const text = await waitFor(
    async () => {
      const t = await (await a.api("/metrics")).text();
      return t.includes('nexus_service_state{service="flaky",state="crashloop"} 1') ? t : null;
    },
    30_000,
    "a /metrics reading with flaky in crash loop",
  );
  return text ?? "";
}

describe("a service in crash loop", () => {
  it("is retried with doubling pauses, shown with its next attempt, and serves once the fault is gone", async () => {
    const a = await startCrashLooping(1500, 3000);
    const first = svc(a, "flaky");
    expect(first.lastError).toMatch(/exited with code 1/);
    expect(first.nextAttemptAt).not.toBeNull();
    expect(lastDelay(unit(a))).toBeGreaterThanOrEqual(1500);

    const metrics = await crashLoopMetrics(a);
    expect(metrics).toContain('nexus_service_state{service="flaky",state="running"} 0');
    expect(metrics).toContain('nexus_service_state{service="echo",state="running"} 1');
    expect(metrics).toContain('nexus_service_state{service="echo",state="crashloop"} 0');
    const next = /nexus_service_next_attempt_timestamp_seconds\{service="flaky"\} (\d+(?:\.\d+)?)/.exec(
      metrics,
    );
    expect(Number(next?.[1])).toBeGreaterThan(Date.parse("2025-01-01") / 1000);
    expect(metrics).not.toContain('nexus_service_next_attempt_timestamp_seconds{service="echo"}');

    // It is tried again (a new process), fails again, and waits twice as long: up to the 3 s cap.
    const restarts = first.restarts;
    await waitFor(
      () => unit(a).state === "crashloop" && unit(a).crashLoopRetries >= 1,
      30_000,
      "a failed crash-loop retry",
    );
    expect(svc(a, "flaky").restarts).toBeGreaterThan(restarts);
    expect(lastDelay(unit(a))).toBeGreaterThanOrEqual(3000);
    expect(svc(a, "echo").state).toBe("running");
    expect((await a.api("/api/echo/hello")).status).toBe(200);

    rmSync(join(a.dataDir, FLAKY_MARKER));
    await waitFor(() => svc(a, "flaky").state === "running", 30_000, "flaky back after the fault is gone");
    expect(svc(a, "flaky").nextAttemptAt).toBeNull();
    expect((await a.api("/api/flaky/ok")).status).toBe(200);
  });

  it("says when it is tried next in the console's status and alert", async () => {
    const a = await startCrashLooping(60_000, 300_000);
    const status = (await (await a.api("/api/appliance/status")).json()) as {
      services: { name: string; state: string; nextAttemptAt: string | null }[];
      alerts: { id: string; message: string }[];
    };
    const row = status.services.find((s) => s.name === "flaky");
    expect(row?.state).toBe("crashloop");
    // The first retry is one crash-loop base (60 s) after the failure that put it in crash loop.
    const inMs = Date.parse(row?.nextAttemptAt ?? "") - Date.now();
    expect(inMs).toBeGreaterThan(30_000);
    expect(inMs).toBeLessThanOrEqual(60_000);
    const alert = status.alerts.find((x) => x.id === "crashloop:flaky");
    const hhmmss = new Date(row?.nextAttemptAt ?? "").toISOString().slice(11, 19);
    expect(alert?.message).toContain(`next attempt at ${hhmmss} UTC`);
  });

  it("leaves the crash loop once it has run for a whole window: a later failure starts from the base again", async () => {
    // One failure is a crash loop here, so the window alone (3 s) decides when a run counts as recovered.
    const policy = {
      NEXUS_SUPERVISOR_CRASH_LOOP_THRESHOLD: "1",
      NEXUS_SUPERVISOR_CRASH_LOOP_WINDOW_MS: "3000",
    };
    const a = await startCrashLooping(2000, 60_000, policy);
    await waitFor(() => unit(a).crashLoopRetries >= 2, 30_000, "two crash-loop retries");
    rmSync(join(a.dataDir, FLAKY_MARKER));
    await waitFor(() => svc(a, "flaky").state === "running", 30_000, "flaky back after the fault is gone");
    await waitFor(
      () => unit(a).crashLoopRetries === 0,
      30_000,
      "the crash loop cleared after a whole window",
    );
    expect(svc(a, "flaky").state).toBe("running");

    process.kill(svc(a, "flaky").pid!, "SIGKILL");
    // Read in one go while it waits: the retry count is 0 again, so its next try is one base away.
    const after = await waitFor(
      () =>
        unit(a).state === "crashloop"
          ? { retries: unit(a).crashLoopRetries, wait: lastDelay(unit(a)) }
          : null,
      30_000,
      "flaky in crash loop after the kill",
    );
    expect(after?.retries).toBe(0);
    expect(after?.wait).toBeGreaterThanOrEqual(2000);
  });

  it("is tried at once on an admin's restart, long before its next attempt is due", async () => {
    const a = await startCrashLooping(120_000, 300_000);
    const restarts = svc(a, "flaky").restarts;
    rmSync(join(a.dataDir, FLAKY_MARKER));
    await a.supervisor.restartUnit("flaky");
    // The next attempt was 2 minutes away: running well before that is the admin's restart.
    await waitFor(() => svc(a, "flaky").state === "running", 30_000, "flaky running after the restart");
    expect(svc(a, "flaky").restarts).toBe(restarts + 1);
    expect(unit(a).crashLoopRetries).toBe(0);
  });

  it("is left alone by a stop: it stays in crash loop and no process is started for it", async () => {
    const a = await startCrashLooping(120_000, 300_000);
    const restarts = svc(a, "flaky").restarts;
    await a.stop();
    expect(svc(a, "flaky")).toMatchObject({ state: "crashloop", pid: null, restarts });
    removeDir(a.dataDir);
    app = null;
  });
});
