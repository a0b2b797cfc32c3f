/** The built `nexus` CLI against a real running appliance. Needs `npm run build` (npm test does it). */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAlive } from "../../appliance/lib/pidfile.js";
import { dataPaths } from "../../appliance/paths.js";
import { logSource } from "../../appliance/supervisor/log-files.js";
import {
  ROOT,
  removeDir,
  removeUp,
  spawnNexusUp,
  tempDir,
  type UpProcess,
  waitFor,
} from "../helpers/appliance.js";
import { duplicateKeys } from "../helpers/json-keys.js";
import { stopChild } from "../helpers/processes.js";

const run = promisify(execFile);
const nexus = (dataDir: string, ...args: string[]) =>
  run(process.execPath, [join(ROOT, "bin/nexus.js"), "-d", dataDir, ...args], { timeout: 30_000 });

describe("nexus CLI with a running appliance", () => {
  let up: UpProcess;
  beforeAll(async () => {
    up = await spawnNexusUp();
  });
  afterAll(async () => {
    if (up) await removeUp(up);
  });

  it("up prints the console URL and a one-time setup link for the first admin", async () => {
    expect(up.output()).toMatch(/Console:\s+http:\/\/127\.0\.0\.1:\d+\//);
    // The link follows the console URL once identity answered: wait for it rather than race it.
    const link = await waitFor(
      () => /(http:\/\/127\.0\.0\.1:\d+\/setup\?token=[A-Za-z0-9_-]+)/.exec(up.output())?.[1],
      20_000,
      "the setup link",
    );
    const page = await fetch(link!);
    expect(page.status).toBe(200);
    // The built web console (npm test builds it) renders the setup form from /setup.
    expect(await page.text()).toContain("<title>Nexus Edge console</title>");
    expect(up.output()).toContain("nexus admin create --username admin --password-stdin");
  });

  it("status --json has name, state, pid, restarts per service", async () => {
    const { stdout } = await nexus(up.dataDir, "status", "--json");
    const s = JSON.parse(stdout);
    expect(s.running).toBe(true);
    expect(s.services).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "identity", state: "running", pid: expect.any(Number), restarts: 0 }),
        expect.objectContaining({ name: "system", state: "running", pid: expect.any(Number), restarts: 0 }),
      ]),
    );
  });

  it("status prints a table", async () => {
    const { stdout } = await nexus(up.dataDir, "status");
    expect(stdout).toMatch(/SERVICE\s+STATE\s+PID\s+RESTARTS\s+UPTIME\s+MEMORY/);
    expect(stdout).toMatch(/system\s+running\s+\d+\s+0\s+\S+\s+\d+ MB/);
  });

  it("logs shows the service's lines and refuses hostile names", async () => {
    const { stdout } = await nexus(up.dataDir, "logs", "system", "-n", "20");
    expect(stdout).toContain("[system] service listening");
    await expect(nexus(up.dataDir, "logs", "../secrets/admin")).rejects.toMatchObject({
      stderr: expect.stringContaining("invalid name"),
    });
    await expect(nexus(up.dataDir, "logs", "nope")).rejects.toMatchObject({
      stderr: expect.stringContaining("no log"),
    });
  });

  it("doctor reports nats-server and the port in use by the appliance", async () => {
    const { stdout } = await nexus(up.dataDir, "doctor", "--json");
    const { checks } = JSON.parse(stdout) as { checks: { name: string; level: string; detail: string }[] };
    expect(checks.find((c) => c.name === "nats-server")).toMatchObject({ level: "ok" });
    expect(checks.find((c) => c.name === "port")?.detail).toContain("running appliance");
  });

  it("a second `up` on the same data dir refuses to start", async () => {
    await expect(nexus(up.dataDir, "up", "--port", "0")).rejects.toMatchObject({
      stderr: expect.stringContaining("another supervisor"),
    });
  });

  it("admin create makes an admin from a script, and the password never reaches a log", async () => {
    const child = execFile(process.execPath, [
      join(ROOT, "bin/nexus.js"),
      "-d",
      up.dataDir,
      "admin",
      "create",
      "--username",
      "ops",
      "--password-stdin",
    ]);
    child.stdin?.end("a long scripted password\n");
    const out = await new Promise<string>((resolve, reject) => {
      let text = "";
      child.stdout?.on("data", (c) => {
        text += c;
      });
      child.once("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}`))));
    });
    expect(out).toContain("Created admin ops");
    const status = JSON.parse((await nexus(up.dataDir, "status", "--json")).stdout);
    const url = status.gateway as string;
    const res = await fetch(`${url}/api/identity/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "ops", password: "a long scripted password" }),
    });
    expect(res.status).toBe(200);
    const second = await nexus(up.dataDir, "admin", "create", "--username", "ops", "--password-stdin").catch(
      (e) => e,
    );
    expect(second.code).not.toBe(0);
    const { readdirSync } = await import("node:fs");
    for (const f of readdirSync(dataPaths(up.dataDir).logs)) {
      expect(readFileSync(join(dataPaths(up.dataDir).logs, f), "utf8")).not.toContain(
        "a long scripted password",
      );
    }
  });

  it("restart restarts one service and refuses unknown ones", async () => {
    const before = JSON.parse((await nexus(up.dataDir, "status", "--json")).stdout).services.find(
      (x: { name: string }) => x.name === "system",
    );
    expect((await nexus(up.dataDir, "restart", "system")).stdout).toContain("Restarting system");
    await waitFor(
      async () => {
        const now = JSON.parse((await nexus(up.dataDir, "status", "--json")).stdout).services.find(
          (x: { name: string }) => x.name === "system",
        );
        return now.state === "running" && now.pid !== before.pid ? now : null;
      },
      30_000,
      "system restarted",
    );
    await expect(nexus(up.dataDir, "restart", "nope")).rejects.toMatchObject({
      stderr: expect.stringContaining("no service nope"),
    });
  });

  it("keeps the data dir and the databases owner-only", async () => {
    const { statSync } = await import("node:fs");
    expect(statSync(up.dataDir).mode & 0o777).toBe(0o700);
    const db = join(up.dataDir, "services", "identity", "identity.db");
    expect(statSync(db).mode & 0o777).toBe(0o600);
  });

  it("a temporary password allows nothing but changing it; /metrics needs appliance:read", async () => {
    const { stdout } = await nexus(up.dataDir, "admin", "create", "--username", "temp-admin");
    const temp = /Temporary password[^:]*: (\S+)/.exec(stdout)?.[1];
    expect(temp).toBeDefined();
    const url = JSON.parse((await nexus(up.dataDir, "status", "--json")).stdout).gateway as string;
    const call = (path: string, token: string, init: RequestInit = {}) =>
      fetch(`${url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      });
    const login = await fetch(`${url}/api/identity/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "temp-admin", password: temp }),
    });
    const { token, user } = (await login.json()) as { token: string; user: { mustChangePassword: boolean } };
    expect(user.mustChangePassword).toBe(true);
    expect((await call("/api/identity/users", token)).status).toBe(403);
    expect((await call("/metrics", token)).status).toBe(403);
    const changed = await call("/api/identity/me/password", token, {
      method: "POST",
      body: JSON.stringify({ currentPassword: temp, newPassword: "a brand new admin password" }),
    });
    expect(changed.status).toBe(200);
    const fresh = (await (await call("/api/identity/token", token, { method: "POST" })).json()) as {
      token: string;
    };
    expect((await call("/api/identity/users", fresh.token)).status).toBe(200);
    expect((await call("/metrics", fresh.token)).status).toBe(200);
  });

  it("the control socket refuses unknown routes, units and hostile names, and is owner-only", async () => {
    const { controlRequest } = await import("../../appliance/control.js");
    const { statSync } = await import("node:fs");
    const sock = dataPaths(up.dataDir).controlSocket;
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    for (const [method, path, status] of [
      ["POST", "/units/nope/restart", 404],
      ["POST", "/units/../restart", 404],
      ["POST", "/units/%2e%2e/restart", 404],
      ["GET", "/bogus", 404],
      ["POST", "/units/Sys_tem/restart", 400],
      ["POST", `/units/${"u".repeat(33)}/restart`, 400],
    ] as const) {
      const r = await controlRequest<{ status: number; message: string; data: unknown }>(sock, method, path);
      expect(r.status, `${method} ${path}`).toBe(status);
      expect(Object.keys(r).sort()).toEqual(["data", "message", "status"]);
    }
    const status = await controlRequest<{ services: unknown[] }>(sock, "GET", "/status");
    expect(status.services.length).toBeGreaterThan(0);
  });

  it("doctor checks the port and data dir the running box really uses, not the configured ones", async () => {
    // The box runs on a free port (--port 0); the config's port is the default, 8080.
    const at = new URL(JSON.parse((await nexus(up.dataDir, "status", "--json")).stdout).gateway).host;
    const report = JSON.parse((await nexus(up.dataDir, "doctor", "--json")).stdout) as {
      dataDir: string;
      gateway: string;
      checks: { name: string; level: string; detail: string }[];
    };
    expect(report.dataDir).toBe(dataPaths(up.dataDir).root);
    expect(report.gateway).toBe(at);
    expect(report.checks.find((c) => c.name === "port")).toMatchObject({
      level: "ok",
      detail: expect.stringContaining(`${at} (in use by the running appliance`),
    });
    const { stdout } = await nexus(up.dataDir, "doctor");
    expect(stdout).toContain(`Data dir ${dataPaths(up.dataDir).root}: the appliance running there`);
  });

  it("supervisor log lines carry no duplicate keys", () => {
    expect(duplicateKeys('{"pid":1,"a":{"pid":2,"b":"pid:"},"pid":3}')).toEqual(["pid"]);
    const lines = readFileSync(dataPaths(up.dataDir).logFile("supervisor"), "utf8")
      .split("\n")
      .filter(Boolean);
    expect(lines.some((l) => l.includes('"msg":"nats-server running"'))).toBe(true);
    expect(lines.some((l) => l.includes('"msg":"unit starting"'))).toBe(true);
    for (const l of lines) expect(duplicateKeys(l), l).toEqual([]);
  });

  it("a service logs /health and /ready probes at debug, not info", async () => {
    const { port } = (await up.status()).services.find((s) => s.name === "system")!;
    for (let i = 0; i < 5; i++) {
      for (const path of ["/ready", "/health"]) {
        expect((await fetch(`http://127.0.0.1:${port}${path}`)).status).toBe(200);
      }
    }
    // An info line after the probes: once it is in the file, so is everything the probes logged.
    const marker = randomUUID();
    await fetch(`http://127.0.0.1:${port}/after-probes`, { headers: { "x-request-id": marker } });
    const src = logSource(dataPaths(up.dataDir).logs, "system");
    const read = () =>
      readFileSync(src.file, "utf8")
        .split("\n")
        .filter((l) => l.startsWith("{") && src.keep(l));
    await waitFor(() => read().some((l) => l.includes(marker)), 20_000, "the marker request in the log");
    const probes = read()
      .map((l) => JSON.parse(l) as { msg: string; path?: string; level: number })
      .filter((o) => o.msg === "request" && ["/ready", "/health"].includes(o.path ?? ""));
    expect(probes.filter((o) => o.level >= 30)).toEqual([]);
  });

  it("a wrong method on a control route is 405 with Allow", async () => {
    const { request } = await import("node:http");
    const sock = dataPaths(up.dataDir).controlSocket;
    const ask = (method: string, path: string) =>
      new Promise<{ status: number; allow?: string; body: { status: number; message: string } }>(
        (ok, fail) => {
          const req = request({ socketPath: sock, method, path, timeout: 10_000 }, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c) => {
              text += c;
            });
            res.on("end", () =>
              ok({ status: res.statusCode!, allow: res.headers.allow, body: JSON.parse(text) }),
            );
          });
          req.once("timeout", () => req.destroy(new Error("control API timed out")));
          req.once("error", fail);
          req.end();
        },
      );
    for (const [method, path, allow] of [
      ["GET", "/units/system/restart", "POST"],
      ["POST", "/status", "GET, HEAD"],
      ["DELETE", "/stop", "POST"],
    ] as const) {
      const r = await ask(method, path);
      expect(r.status, `${method} ${path}`).toBe(405);
      expect(r.allow).toBe(allow);
      expect(r.body).toMatchObject({ status: 405, message: "method not allowed" });
    }
  });

  it("stop stops it gracefully", async () => {
    const { stdout } = await nexus(up.dataDir, "stop");
    expect(stdout).toContain("stopped.");
    await waitFor(() => up.child.exitCode !== null, 20_000, "nexus up to exit");
    expect(up.child.exitCode).toBe(0);
    const after = await nexus(up.dataDir, "status", "--json").catch((e) => e);
    expect(after.code).toBe(3);
    expect(JSON.parse(after.stdout)).toEqual({ running: false, services: [] });
  });
});

describe("nexus CLI without an appliance", () => {
  it("version prints versions; doctor checks; bad flags are refused", async () => {
    const dir = tempDir();
    try {
      expect((await nexus(dir, "version")).stdout).toMatch(
        /nexus-edge \d+\.\d+\.\d+\nnode v\d+.*\nnats-server \d/,
      );
      const { stdout } = await nexus(dir, "doctor");
      expect(stdout).toMatch(/nats-server\s+ok/);
      await expect(nexus(dir, "up", "--port", "99999")).rejects.toMatchObject({
        stderr: expect.stringContaining("0..65535"),
      });
      await expect(nexus(dir, "up", "--isolation", "weird")).rejects.toMatchObject({
        stderr: expect.stringContaining("process or shared"),
      });
    } finally {
      removeDir(dir);
    }
  });

  // The reaping of a nats-server whose watchdog died too: supervisor-kill9.test.ts.
  it("a supervisor killed with SIGKILL leaves no service host and, within seconds, no nats-server", async () => {
    const up = await spawnNexusUp();
    try {
      const status = await up.status();
      const hostPids = status.services.map((s) => s.pid!);
      const natsPid = status.nats.pid!;
      up.child.kill("SIGKILL");
      await waitFor(() => hostPids.every((p) => !isAlive(p)), 10_000, "service hosts to exit");
      await waitFor(() => !isAlive(natsPid), 15_000, "nats-server to exit (its watchdog)");
      const again = await spawnNexusUp([], {}, up.dataDir);
      try {
        expect((await again.status()).nats.pid).not.toBe(natsPid);
      } finally {
        await stopChild(again.child, "SIGTERM", 15_000);
      }
    } finally {
      await removeUp(up);
    }
  });
});
