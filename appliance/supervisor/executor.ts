/**
 * The side of the supervisor that touches the world: spawning and signalling unit processes. Each function
 * updates the unit's status object it is given; the reconcile loop owns those objects.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "../kit/index.js";
import { bundledEntry } from "../lib/bundle-entry.js";
import type { UnitStatus } from "./state.js";

export interface HostCommand {
  /** Executable (process.execPath) and leading args (loader flags, the host entry script). */
  execPath: string;
  args: string[];
}

export interface SpawnContext {
  host: HostCommand;
  env: NodeJS.ProcessEnv;
  logFd: number;
  log: Logger;
  now: () => number;
  /** Called when the process exits, whatever the reason. */
  onExit: (u: UnitStatus, code: number | null, signal: NodeJS.Signals | null) => void;
  /** Called for IPC messages (the host reports which services started). */
  onMessage: (u: UnitStatus, msg: unknown) => void;
}

/** Spawns the host process of a unit; the unit goes to `starting`. */
export function spawnUnit(u: UnitStatus, ports: Map<string, number>, ctx: SpawnContext): ChildProcess {
  const services = u.spec.services.map((s) => `${s}:${ports.get(s)}`).join(",");
  const child = spawn(ctx.host.execPath, ctx.host.args, {
    env: { ...ctx.env, NEXUS_HOST_SERVICES: services },
    stdio: ["ignore", ctx.logFd, ctx.logFd, "ipc"],
  });
  u.state = "starting";
  u.pid = child.pid ?? null;
  u.startedAt = ctx.now();
  u.healthFailures = 0;
  child.on("message", (msg) => ctx.onMessage(u, msg));
  child.once("exit", (code, signal) => ctx.onExit(u, code, signal));
  child.once("error", (err) => ctx.log.error({ err, unit: u.spec.name }, "spawn failed"));
  return child;
}

/** SIGTERM, then SIGKILL after `timeoutMs`. Resolves when the process has exited. */
export function terminate(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * How to run a service host: the bundled or compiled entry under node, or the TypeScript one through tsx (tests,
 * dev).
 */
export function defaultHostCommand(): HostCommand {
  const bundled = bundledEntry(import.meta.url, "host");
  if (bundled) return { execPath: process.execPath, args: [bundled] };
  const self = fileURLToPath(import.meta.url);
  const ext = self.endsWith(".ts") ? ".ts" : ".js";
  const entry = fileURLToPath(new URL(`../host/main${ext}`, import.meta.url));
  if (ext === ".js") return { execPath: process.execPath, args: [entry] };
  return { execPath: process.execPath, args: ["--import", import.meta.resolve("tsx"), entry] };
}
