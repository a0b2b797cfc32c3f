/**
 * Test harness: real appliances on temp data dirs and free loopback ports. In-process supervisor (children are
 * real processes running the fixture host through tsx), or a whole `nexus up` process for signal tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { type Appliance, startAppliance } from "../../appliance/appliance.js";
import { loadApplianceConfig } from "../../appliance/config/load.js";
import { controlRequest } from "../../appliance/control.js";
import { cmdline, readPid } from "../../appliance/lib/pidfile.js";
import { dataPaths } from "../../appliance/paths.js";
import type { ServiceStatus } from "../../appliance/supervisor/supervisor.js";
import { testLoader } from "../fixtures/services.js";
import { killPid, stopChild } from "./processes.js";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const TSX = import.meta.resolve("tsx");

export function tempDir(prefix = "nexus-test-"): string {
  return mkdtempSync(join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface TestAppliance extends Appliance {
  dataDir: string;
  token: string;
  /** fetch against the gateway with the admin token. */
  api(path: string, init?: RequestInit): Promise<Response>;
}

/** Starts an appliance in this process with fixture services available; waits until all are ready. */
export async function startTestAppliance(
  opts: {
    services?: string[];
    isolation?: "process" | "shared";
    env?: Record<string, string>;
    waitReady?: boolean;
    /** Runs on the fresh data dir before anything starts (mounts, corrupt files, …). */
    beforeStart?: (dataDir: string) => void;
    /** A command the service hosts run under, e.g. `["faketime", "-f", "+20s"]` for a box with a skewed clock. */
    hostPrefix?: string[];
    /** Starts again on the data dir of a box stopped before (default: a fresh one). */
    dataDir?: string;
  } = {},
): Promise<TestAppliance> {
  const dataDir = opts.dataDir ?? tempDir();
  opts.beforeStart?.(dataDir);
  const env = {
    ...process.env,
    NEXUS_SUPERVISOR_BACKOFF_BASE_MS: "100",
    NEXUS_SUPERVISOR_HEALTH_INTERVAL_MS: "300",
    ...opts.env,
    NEXUS_SERVICES: (opts.services ?? ["echo"]).join(","),
  };
  const config = loadApplianceConfig({ dataDir, port: 0, isolation: opts.isolation }, env);
  const log = pino({ level: "warn" }, pino.destination(join(os.tmpdir(), "nexus-test-supervisor.log")));
  const app = await startAppliance(config, log, {
    loadManifest: testLoader,
    env,
    host: hostCommand(opts.hostPrefix ?? []),
  });
  if (opts.waitReady !== false) await app.supervisor.ready(60_000);
  // The bootstrap token exists only on boxes without the identity service.
  const tokenFile = dataPaths(dataDir).adminToken;
  const token = existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : "";
  return {
    ...app,
    dataDir,
    token,
    api: (path, init = {}) =>
      fetch(`${app.url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) },
      }),
  };
}

function hostCommand(prefix: string[]) {
  const node = [process.execPath, "--import", TSX, join(ROOT, "test/fixtures/host.ts")];
  const [execPath, ...args] = [...prefix, ...node];
  return { execPath: execPath!, args };
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  timeoutMs = 20_000,
  label = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface UpProcess {
  child: ChildProcess;
  dataDir: string;
  output: () => string;
  status(): Promise<{ services: ServiceStatus[]; nats: { pid: number | null }; gateway: string }>;
}

/** Runs the built CLI's `nexus up` as its own process (needs `npm run build`). */
export async function spawnNexusUp(
  args: string[] = [],
  env: Record<string, string> = {},
  dataDir = tempDir(),
): Promise<UpProcess> {
  let out = "";
  const child = spawn(
    process.execPath,
    [join(ROOT, "bin/nexus.js"), "-d", dataDir, "up", "--port", "0", ...args],
    {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stdout?.on("data", (c) => {
    out += c;
  });
  child.stderr?.on("data", (c) => {
    out += c;
  });
  const up: UpProcess = {
    child,
    dataDir,
    output: () => out,
    status: () => controlRequest(dataPaths(dataDir).controlSocket, "GET", "/status"),
  };
  await waitFor(() => out.includes("Console:"), 60_000, `nexus up to be ready; output so far:\n${out}`);
  return up;
}

/**
 * Stops a `nexus up` process (SIGTERM, SIGKILL after a grace), ends a nats-server it left behind (one killed
 * with SIGKILL leaves it running) and only then removes its data dir, which that nats-server writes into.
 */
export async function removeUp(up: UpProcess): Promise<void> {
  await stopChild(up.child, "SIGTERM", 15_000);
  const natsPidFile = dataPaths(up.dataDir).natsPid;
  const pid = readPid(natsPidFile);
  if (pid && cmdline(pid).includes("nats-server")) await killPid(pid);
  removeDir(up.dataDir);
}

/** Runs a test fixture script (`test/fixtures/<name>.ts`) under tsx, collecting its output. */
export function spawnFixture(script: string, args: string[]): { child: ChildProcess; out: () => string } {
  let out = "";
  const child = spawn(process.execPath, ["--import", TSX, join(ROOT, "test/fixtures", script), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (c) => {
    out += c;
  });
  child.stderr?.on("data", (c) => {
    out += c;
  });
  return { child, out: () => out };
}
