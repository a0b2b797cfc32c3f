/** Real supervisor + real nats-server + real service processes. */
import { statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isAlive } from "../../appliance/lib/pidfile.js";
import {
  removeDir,
  removeUp,
  spawnNexusUp,
  startTestAppliance,
  type TestAppliance,
  waitFor,
} from "../helpers/appliance.js";

let app: TestAppliance | null = null;
afterEach(async () => {
  if (app) {
    await app.stop();
    removeDir(app.dataDir);
    app = null;
  }
});

const svc = (a: TestAppliance, name: string) => a.supervisor.status().find((s) => s.name === name)!;

describe("supervisor", () => {
  it("starts services in dependency order and routes to them", async () => {
    app = await startTestAppliance({ services: ["dependent", "echo"] });
    const order = Object.keys(app.supervisor.current.units);
    expect(order.indexOf("echo")).toBeLessThan(order.indexOf("dependent"));
    const res = await app.api("/api/dependent/ok");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it("restarts a service killed with SIGKILL and it serves again", async () => {
    app = await startTestAppliance({ services: ["echo"] });
    // The gateway reaches the service on its owner-only unix socket; the TCP port stays for direct callers.
    const socket = app.supervisor.serviceSocket("echo")!;
    expect(socket).toBe(join(app.dataDir, "run", "svc", "echo.sock"));
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(await (await app.api("/api/echo/transport")).json()).toEqual({ unix: true });
    const before = svc(app, "echo");
    process.kill(before.pid!, "SIGKILL");
    await waitFor(() => svc(app!, "echo").state !== "running", 5000, "echo to notice the kill");
    await waitFor(() => svc(app!, "echo").state === "running", 20_000, "echo to come back");
    const after = svc(app, "echo");
    expect(after.pid).not.toBe(before.pid);
    expect(after.restarts).toBe(1);
    const res = await app.api("/api/echo/hello");
    expect(res.status).toBe(200);
    expect(app.supervisor.serviceSocket("echo")).toBe(socket);
    expect(await (await app.api("/api/echo/transport")).json()).toEqual({ unix: true });
    const direct = await fetch(`http://127.0.0.1:${after.port}/transport`);
    expect(direct.status).toBe(401);
  });

  it("an explicit restart starts exactly one new process and leaves none behind", async () => {
    app = await startTestAppliance({ services: ["echo"] });
    const first = svc(app, "echo").pid!;
    await app.supervisor.restartUnit("echo");
    await waitFor(
      () => svc(app!, "echo").state === "running" && svc(app!, "echo").pid !== first,
      20_000,
      "restart",
    );
    await new Promise((r) => setTimeout(r, 1500));
    const s = svc(app, "echo");
    expect(s).toMatchObject({ state: "running", restarts: 1, lastError: null });
    const second = s.pid!;
    expect(isAlive(first)).toBe(false);
    await app.stop();
    expect(isAlive(second)).toBe(false);
    removeDir(app.dataDir);
    app = null;
  });

  it("restarts nats-server on the same port and services publish again", async () => {
    app = await startTestAppliance({ services: ["echo"] });
    const before = app.supervisor.natsState();
    process.kill(before.pid!, "SIGKILL");
    await waitFor(
      () => {
        const n = app!.supervisor.natsState();
        return n.state === "running" && n.pid !== before.pid;
      },
      20_000,
      "nats-server restarted",
    );
    expect(app.supervisor.natsState().url).toBe(before.url);
    const res = await app.api("/api/echo/items", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ body: "after restart" }),
    });
    expect(res.status).toBe(201);
    const { openDatabase, outboxBacklog, serviceDbPath } = await import("../../appliance/kit/index.js");
    const db = openDatabase(serviceDbPath(app.dataDir, "echo"));
    try {
      await waitFor(() => outboxBacklog(db) === 0, 20_000, "outbox drained after nats restart");
    } finally {
      db.close();
    }
  });

  it("delivers outbox events to a durable subscription, redelivering after a handler failure", async () => {
    app = await startTestAppliance({ services: ["echo", "listener"] });
    const bodies = ["one", "two", "three"];
    for (const body of bodies) {
      const res = await app.api("/api/echo/items", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ body }),
      });
      expect(res.status).toBe(201);
    }
    const received = await waitFor(
      async () => {
        const rows = (await (await app!.api("/api/listener/received")).json()) as { body: string }[];
        return rows.length === 3 ? rows : null;
      },
      30_000,
      "three events handled (each after one failed delivery)",
    );
    expect(received?.map((r) => r.body).sort()).toEqual([...bodies].sort());
  });

  it("puts a service that exits at once into crash loop while the others keep serving", async () => {
    app = await startTestAppliance({
      services: ["echo", "crasher"],
      waitReady: false,
      env: { NEXUS_SUPERVISOR_CRASH_LOOP_THRESHOLD: "3", NEXUS_SUPERVISOR_BACKOFF_BASE_MS: "50" },
    });
    await waitFor(() => svc(app!, "crasher").state === "crashloop", 30_000, "crash loop");
    expect(svc(app, "crasher").lastError).toMatch(/exited with code 1/);
    expect(svc(app, "echo").state).toBe("running");
    expect((await app.api("/api/echo/hello")).status).toBe(200);
    const down = await app.api("/api/crasher/anything");
    expect(down.status).toBe(503);
    // It stays down until its next attempt (the crash-loop base, 30 s by default): no quick restarts.
    const restarts = svc(app, "crasher").restarts;
    await new Promise((r) => setTimeout(r, 1000));
    expect(svc(app, "crasher").restarts).toBe(restarts);
    const metrics = await (await app.api("/metrics")).text();
    expect(metrics).toContain('nexus_service_state{service="crasher",state="crashloop"} 1');
    expect(metrics).toContain('nexus_service_state{service="crasher",state="running"} 0');
    expect(metrics).toContain('nexus_service_up{service="echo"} 1');
  });

  it("runs the same services in shared isolation, one process for all", async () => {
    app = await startTestAppliance({ services: ["echo", "dependent"], isolation: "shared" });
    const [a, b] = [svc(app, "echo"), svc(app, "dependent")];
    expect(a.pid).toBe(b.pid);
    expect((await app.api("/api/echo/hello")).status).toBe(200);
    expect((await app.api("/api/dependent/ok")).status).toBe(200);
  });

  it("keeps serving the others in shared isolation when one service fails to start", async () => {
    app = await startTestAppliance({ services: ["echo", "crasher"], isolation: "shared", waitReady: false });
    await waitFor(() => svc(app!, "crasher").state === "failed", 20_000, "crasher marked failed");
    await waitFor(() => svc(app!, "echo").state === "running", 20_000, "echo running beside it");
    expect((await app.api("/api/echo/hello")).status).toBe(200);
    expect((await app.api("/api/crasher/x")).status).toBe(503);
  });
});

describe("nexus up as a process", () => {
  it("SIGTERM stops every child and nats-server, leaving no process behind", async () => {
    const up = await spawnNexusUp();
    try {
      const status = await up.status();
      const pids = [status.nats.pid!, ...status.services.map((s) => s.pid!)];
      expect(pids.every((p) => p && isAlive(p))).toBe(true);
      up.child.kill("SIGTERM");
      const code = await new Promise((r) => up.child.once("exit", r));
      expect(code).toBe(0);
      for (const pid of pids) expect(isAlive(pid)).toBe(false);
      expect(up.output()).toContain("Stopped.");
    } finally {
      await removeUp(up);
    }
  });
});
