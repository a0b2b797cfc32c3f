/**
 * Starting and stopping the installed appliance: through systemd (`systemctl start|stop nexus`) or, with
 * --no-systemd, by running the supervisor directly (`current/nexus up`, detached, its output in
 * /var/log/nexus/nexus.out). Stopping waits for the supervisor to be gone and kills it after a timeout.
 */
import { execFile, spawn } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { controlRequest } from "../control.js";
import { isAlive, readPid } from "../lib/pidfile.js";
import { dataPaths } from "../paths.js";
import { installedDataDir, type Layout } from "./layout.js";

export interface BoxControl {
  start(): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  return !isAlive(pid);
}

/** Stops the supervisor running on `dataDir` (gracefully, then SIGKILL of it and its process group). */
export async function stopSupervisor(dataDir: string, timeoutMs = 60_000): Promise<void> {
  const paths = dataPaths(dataDir);
  const pid = readPid(paths.supervisorPid);
  if (!pid || !isAlive(pid)) return;
  try {
    await controlRequest(paths.controlSocket, "POST", "/stop", 5000);
  } catch {
    process.kill(pid, "SIGTERM");
  }
  if (await waitGone(pid, timeoutMs)) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    process.kill(pid, "SIGKILL");
  }
  await waitGone(pid, 5000);
}

/** Runs the supervisor directly (no systemd): `<opt>/current/nexus up`, detached in its own process group. */
export function directControl(l: Layout): BoxControl {
  return {
    async start() {
      mkdirSync(l.logDir, { recursive: true });
      const out = openSync(join(l.logDir, "nexus.out"), "a");
      // The upgrader's own environment names its version's tools: the started version sets its own.
      const { NEXUS_NATS_SERVER: _, ...env } = process.env;
      const child = spawn(join(l.current, "nexus"), ["up"], {
        detached: true,
        stdio: ["ignore", out, out],
        env: { ...env, NEXUS_ENV_FILE: l.envFile },
      });
      child.unref();
    },
    stop: () => stopSupervisor(installedDataDir(l)),
  };
}

/** systemd's `nexus.service`. */
export function systemdControl(): BoxControl {
  const run = promisify(execFile);
  return {
    start: async () => void (await run("systemctl", ["start", "nexus.service"])),
    stop: async () => void (await run("systemctl", ["stop", "nexus.service"])),
  };
}
