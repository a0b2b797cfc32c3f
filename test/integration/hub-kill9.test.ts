/**
 * A hub killed with kill -9 (a real `nexus hub` process): its nats-server does not outlive it (the watchdog),
 * and when one did anyway (the watchdog killed too), the next hub reaps it before starting its own; the
 * backlog a box sent meanwhile drains with nothing lost or applied twice.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAlive } from "../../appliance/lib/pidfile.js";
import { freePort } from "../../appliance/lib/ports.js";
import { WATCHDOG_NAME } from "../../appliance/supervisor/nats-process.js";
import { ROOT, type TestAppliance, TSX, waitFor } from "../helpers/appliance.js";
import { enrolledBox, type HubProcess, hubProcess, outboxRows, teardown } from "../helpers/hub.js";

let hub: HubProcess;
let box: TestAppliance;

beforeAll(async () => {
  hub = await hubProcess();
  await hub.start();
  box = await enrolledBox(hub, "site-k", ["notes"]);
}, 180_000);

afterAll(async () => {
  const pid = hub.natsPid();
  await teardown([box], hub);
  // A nats-server that outlived its hub in a failed run would hold its ports: end it.
  if (pid && isAlive(pid)) process.kill(pid, "SIGKILL");
});

/** Processes whose arguments include every one of `args`. */
function pidsWith(...args: string[]): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
        return args.every((x) => cmd.includes(x));
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function received(): Promise<number> {
  const r = await hub.api<{ sites: { id: string; received: number }[] }>("GET", "/api/hub/sites");
  return r.body.sites.find((s) => s.id === "site-k")?.received ?? 0;
}

async function hubKeys(): Promise<Set<string>> {
  const r = await hub.api<{ records: { key: string }[] }>("GET", "/api/hub/records/notes");
  return new Set(r.body.records.map((x) => x.key));
}

describe("a hub killed with kill -9", () => {
  it("takes its nats-server down within seconds, and starts again on the same dir", async () => {
    const natsPid = hub.natsPid();
    expect(natsPid).toBeGreaterThan(0);
    await hub.kill9();
    await waitFor(() => !isAlive(natsPid), 15_000, "the hub's nats-server to end");
    await hub.start();
    expect(hub.natsPid()).toBeGreaterThan(0);
  }, 120_000);

  it("whose nats-server survived: the next hub reaps it, and the backlog drains once, whole", async () => {
    const before = await received();
    await hub.stop();
    const r = await box.api("/api/notes/bulk", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prefix: "k9", count: 1000 }),
    });
    expect(r.status).toBe(200);
    await hub.start();
    await waitFor(async () => (await received()) > before, 60_000, "ingest to begin");
    const natsPid = hub.natsPid();
    // As if the watchdog had died too (or the platform had none): the server outlives the hub.
    for (const pid of pidsWith(WATCHDOG_NAME, String(natsPid))) process.kill(pid, "SIGKILL");
    await hub.kill9();
    expect(isAlive(natsPid)).toBe(true);
    await hub.start();
    expect(isAlive(natsPid)).toBe(false);
    const keys = Array.from({ length: 1000 }, (_, i) => `k9-${i}`);
    await waitFor(
      async () => {
        const have = await hubKeys();
        return keys.every((k) => have.has(k));
      },
      120_000,
      "the hub to hold the whole backlog",
    );
    // One inbox row per change: nothing applied twice.
    expect(await received()).toBe(before + 1000);
    await waitFor(async () => (await outboxRows(box)) === 0, 60_000, "the box to prune what the hub holds");
  }, 240_000);

  it("a second hub on a running hub's dir is refused and leaves the first one's nats-server alone", async () => {
    const natsPid = hub.natsPid();
    let err = "";
    const second = spawn(
      process.execPath,
      [
        ...["--import", TSX, join(ROOT, "appliance/cli/main.ts"), "hub", "--hub-dir", hub.dir],
        ...[
          "--port",
          String(await freePort()),
          "--leaf-host",
          "127.0.0.1",
          "--leaf-port",
          String(await freePort()),
        ],
      ],
      { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NEXUS_LOG_LEVEL: "warn" } },
    );
    second.stderr?.on("data", (c) => (err += c));
    try {
      await waitFor(() => second.exitCode !== null, 60_000, "the second hub to give up");
      expect(second.exitCode).not.toBe(0);
      expect(err).toContain("another hub");
      expect(isAlive(natsPid)).toBe(true);
      expect((await hub.api("GET", "/api/hub/sites")).status).toBe(200);
    } finally {
      second.kill("SIGKILL");
    }
  }, 120_000);
});
