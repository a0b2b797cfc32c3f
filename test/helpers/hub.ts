/**
 * A real hub for tests: `nexus hub` as its own process (so it can be stopped, restarted and killed -9) on a
 * fixed leafnode port, and boxes enrolled with it through `enroll()` before they start.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { enroll } from "../../appliance/enroll.js";
import { freePort } from "../../appliance/lib/ports.js";
import {
  ROOT,
  removeDir,
  startTestAppliance,
  type TestAppliance,
  TSX,
  tempDir,
  waitFor,
} from "./appliance.js";
import { killPid, stopChild } from "./processes.js";

export interface HubProcess {
  dir: string;
  leafPort: number;
  /** The hub process's stdout and stderr (its pino log, warn and up), kept across restarts. */
  logFile: string;
  /** The last lines of that log, for a failure message. */
  logTail(lines?: number): string;
  /** The pid of the hub's nats-server (0 when none runs). */
  natsPid(): number;
  url(): string;
  adminToken(): string;
  start(): Promise<void>;
  /** SIGTERM and wait until the hub and its nats-server have exited. */
  stop(): Promise<void>;
  /** SIGKILL the hub process alone (its nats-server is left to the hub's own watchdog, as in production). */
  kill9(): Promise<void>;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

/**
 * A hub process on PGlite, or on PostgreSQL when `databaseUrl` is given. `adminToken`: written to its secrets
 * before it starts, as replicas of one hub share theirs.
 */
export async function hubProcess(
  opts: { databaseUrl?: string; env?: Record<string, string>; args?: string[]; adminToken?: string } = {},
): Promise<HubProcess> {
  const dir = tempDir("nexus-hub-");
  if (opts.adminToken) {
    mkdirSync(join(dir, "secrets"), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "secrets", "hub-admin.token"), `${opts.adminToken}\n`, { mode: 0o600 });
  }
  const leafPort = await freePort();
  // Fixed across restarts, like a real hub's address: enrolled boxes keep its URL.
  const httpPort = await freePort();
  let child: ChildProcess | null = null;
  const runFile = join(dir, "run", "hub.json");
  const logFile = join(dir, "logs", "hub.log");
  const killHubNats = async () => {
    const pid = hub.natsPid();
    if (pid) await killPid(pid);
  };
  const hub: HubProcess = {
    dir,
    leafPort,
    logFile,
    logTail: (lines = 40) => tailOf(logFile, lines),
    natsPid: () => Number(execPidOf(join(dir, "nats", "nats.conf"))),
    url: () => (JSON.parse(readFileSync(runFile, "utf8")) as { url: string }).url,
    adminToken: () => readFileSync(join(dir, "secrets", "hub-admin.token"), "utf8").trim(),
    async start() {
      rmSync(runFile, { force: true });
      mkdirSync(join(dir, "logs"), { recursive: true, mode: 0o700 });
      // Kept, not discarded: a hub answering 500 says why only here ("unhandled error" with its stack).
      const out = openSync(logFile, "a", 0o600);
      child = spawn(
        process.execPath,
        [
          "--import",
          TSX,
          join(ROOT, "appliance/cli/main.ts"),
          "hub",
          "--hub-dir",
          dir,
          "--port",
          String(httpPort),
          "--leaf-host",
          "127.0.0.1",
          "--leaf-port",
          String(leafPort),
          ...(opts.databaseUrl ? ["--database-url", opts.databaseUrl] : []),
          ...(opts.args ?? []),
        ],
        {
          stdio: ["ignore", out, out],
          env: { ...process.env, NEXUS_LOG_LEVEL: "warn", ...opts.env },
        },
      );
      closeSync(out); // the child has its own copy
      const c = child;
      try {
        await waitFor(() => existsSync(runFile) || c.exitCode !== null, 60_000, "hub start");
        if (!existsSync(runFile)) throw new Error(`the hub exited during start (code ${c.exitCode})`);
      } catch (err) {
        throw withHubLog(err, hub);
      }
    },
    async stop() {
      const c = child;
      child = null;
      // The hub stops its nats-server before it exits; one still there (the hub was SIGKILLed after the grace)
      // would keep writing into the hub dir that teardown removes next.
      await stopChild(c, "SIGTERM", 20_000);
      await killHubNats();
    },
    async kill9() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      c.kill("SIGKILL");
      await new Promise((r) => c.once("exit", r));
    },
    async api<T>(method: string, path: string, body?: unknown) {
      let res: Response;
      try {
        res = await fetch(`${hub.url()}${path}`, {
          method,
          headers: { authorization: `Bearer ${hub.adminToken()}`, "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (err) {
        // A reset or refused connection: say whether the hub process is still there, and what it logged.
        const cause = (err as { cause?: Error }).cause?.message;
        const c = child as ChildProcess | null;
        const state = !c
          ? "not started"
          : (c.signalCode ?? (c.exitCode !== null ? `exited ${c.exitCode}` : "running"));
        throw withHubLog(
          new Error(
            `hub ${method} ${path}: ${(err as Error).message}${cause ? ` (${cause})` : ""}; hub process ${state}`,
          ),
          hub,
        );
      }
      const text = await res.text();
      if (res.status >= 500)
        throw withHubLog(new Error(`hub ${method} ${path}: ${res.status} ${text.slice(0, 500)}`), hub);
      return { status: res.status, body: JSON.parse(text) as T };
    },
  };
  return hub;
}

/** The last `lines` lines of `file` ("" when there is none). */
function tailOf(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** `err` with the tail of the hub's log appended to its message: what the hub said when the call failed. */
export function withHubLog(err: unknown, hub: HubProcess): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  e.message += `\n--- tail of ${hub.logFile} ---\n${hub.logTail() || "(empty)"}`;
  return e;
}

/** `enroll()` a box's data dir with `hub` as `site`; a refusal carries the tail of the hub's log. */
export async function enrolWith(hub: HubProcess, dataDir: string, site: string): Promise<void> {
  const token = await enrolToken(hub, site);
  try {
    await enroll({ dataDir, hubUrl: hub.url(), token });
  } catch (err) {
    throw withHubLog(err, hub);
  }
}

/** The pid of the nats-server started with `conf` (from /proc), or "". */
function execPidOf(conf: string): string {
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmd.includes("nats-server") && cmd.includes(conf)) return pid;
    } catch {
      // gone
    }
  }
  return "";
}

/** An enrolment token for `site`. */
export async function enrolToken(hub: HubProcess, site: string, ttlSeconds = 600): Promise<string> {
  const r = await hub.api<{ token: string }>("POST", "/api/hub/tokens", { site, ttlSeconds });
  if (r.status !== 201) throw new Error(`token: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.token;
}

/** Enrols a fresh box as `site` and starts it with `services`. */
export async function enrolledBox(
  hub: HubProcess,
  site: string,
  services: string[],
  opts: { hostPrefix?: string[]; config?: Record<string, unknown> } = {},
): Promise<TestAppliance> {
  const pre = tempDir("nexus-enrol-");
  await enrolWith(hub, pre, site);
  const box = await startTestAppliance({
    services,
    hostPrefix: opts.hostPrefix,
    beforeStart: (dataDir) => {
      mkdirSync(join(dataDir, "secrets"), { recursive: true, mode: 0o700 });
      copyFileSync(join(pre, "secrets", "hub.json"), join(dataDir, "secrets", "hub.json"));
      const config = { ...JSON.parse(readFileSync(join(pre, "config.json"), "utf8")), ...opts.config };
      writeFileSync(join(dataDir, "config.json"), JSON.stringify(config));
    },
  });
  removeDir(pre);
  return box;
}

/** Writes a note on a box running the `notes` fixture (a synced record); fails loudly on an error status. */
export async function putNote(box: TestAppliance, key: string, text: string): Promise<void> {
  const r = await box.api(`/api/notes/notes/${encodeURIComponent(key)}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text }),
  });
  if (r.status !== 200) throw new Error(`PUT note ${key}: ${r.status} ${await r.text()}`);
}

/** Sync rows still in a notes box's outbox (not yet acknowledged by the hub). */
export async function outboxRows(box: TestAppliance): Promise<number> {
  return ((await (await box.api("/api/notes/outbox")).json()) as { rows: number }).rows;
}

/** Stops boxes and a hub and removes their data dirs (for afterAll). */
export async function teardown(boxes: (TestAppliance | undefined)[], hub?: HubProcess): Promise<void> {
  for (const box of boxes) {
    if (!box) continue;
    await box.stop();
    removeDir(box.dataDir);
  }
  await hub?.stop();
  if (hub) removeDir(hub.dir);
}
