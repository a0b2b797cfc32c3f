/**
 * Shared helpers for the benchmarks: metric output, /proc readings, and process bookkeeping so that every
 * process a benchmark starts (directly or through an appliance) is killed when the run ends, also on error or
 * Ctrl-C. Linux only (/proc).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { controlRequest } from "../../appliance/control.js";
import { dataPaths } from "../../appliance/paths.js";
import type { ServiceStatus } from "../../appliance/supervisor/supervisor.js";
import { ROOT, removeDir, type TestAppliance, tempDir } from "../helpers/appliance.js";

/** One `name: value` line on stdout (the benchmark's result); numbers are rounded for reading. */
export function metric(name: string, value: number | string, digits = 3): void {
  const shown = typeof value === "number" ? String(Number(value.toFixed(digits))) : value;
  console.log(`${name}: ${shown}`);
}

/** Progress for the human watching; stderr so stdout stays `name: value` lines only. */
export function note(text: string): void {
  process.stderr.write(`# ${text}\n`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A positive number from the environment (BENCH_* knobs), or the default. */
export function envNumber(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

/** VmRSS of `pid` in bytes, or 0 when the process is gone. */
export function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Proportional and unique set size of `pid` in bytes (/proc/<pid>/smaps_rollup): PSS divides each shared page
 * (the node binary, libraries) among the processes mapping it, so a sum of PSS is the memory a set of
 * processes really occupies; USS (private pages) is what ending the process would free. Zeros when unreadable.
 */
export function pssUss(pid: number): { pss: number; uss: number } {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const kb = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0) * 1024;
    return { pss: kb("Pss"), uss: kb("Private_Clean") + kb("Private_Dirty") };
  } catch {
    return { pss: 0, uss: 0 };
  }
}

/** User + system CPU time of `pid` in milliseconds (from /proc/<pid>/stat; 10 ms resolution), or NaN. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    return ticks * 10; // CLK_TCK is 100 on Linux
  } catch {
    return Number.NaN;
  }
}

/** CPU time all cores spent busy (not idle/iowait), in milliseconds, from /proc/stat. */
export function systemBusyMs(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 10;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---- process bookkeeping --------------------------------------------------------------------------------

const tracked = new Set<number>();
const cleanups = new Set<() => Promise<void>>();

/** Remembers `pid` (a process this benchmark started, or one started on its behalf) for the final sweep. */
export function track(pid: number | null | undefined): void {
  if (pid) tracked.add(pid);
}

function killTracked(): void {
  for (const pid of tracked) {
    if (pid === process.pid) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  tracked.clear();
}

/** Registers an async cleanup (stop an appliance) run by `runCleanups`; returns an unregister function. */
export function onCleanup(fn: () => Promise<void>): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Runs the registered cleanups (each bounded to 20 s), then SIGKILLs every tracked pid still alive. */
export async function runCleanups(): Promise<void> {
  for (const fn of [...cleanups]) {
    cleanups.delete(fn);
    await Promise.race([fn().catch(() => undefined), sleep(20_000)]);
  }
  killTracked();
}

let hooked = false;
/** Last-resort kills on exit and on Ctrl-C / SIGTERM. */
export function installExitHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killTracked);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      note(`${sig}: cleaning up`);
      void runCleanups().finally(() => process.exit(130));
    });
  }
}

// ---- `nexus up` (the built CLI) -------------------------------------------------------------------------

export interface UpStatus {
  pid: number;
  gateway: string;
  nats: { state: string; pid: number | null };
  services: ServiceStatus[];
}

export interface NexusUp {
  child: ChildProcess;
  dataDir: string;
  output: () => string;
  /** Resolves with the regexp match once the output matches, rejects on timeout or exit. */
  waitOutput(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  status(): Promise<UpStatus>;
  /** SIGTERM and wait (bounded); then SIGKILL whatever of supervisor, nats-server and hosts is left. */
  stop(): Promise<void>;
}

const NEXUS_BIN = join(ROOT, "bin/nexus.js");

/** Fails early with a clear message when `npm run build` has not been run. */
export function requireBuild(): void {
  if (!existsSync(join(ROOT, "dist/appliance/cli/main.js"))) {
    throw new Error("dist/ is missing: run `npm run build` before this benchmark");
  }
}

/** Spawns `nexus -d <dataDir> up --port 0 ...args` (a fresh temp dir unless one is given). */
export function spawnUp(args: string[] = [], dataDir = tempDir("nexus-bench-")): NexusUp {
  requireBuild();
  let out = "";
  // The box's own defaults only: no NEXUS_* settings leak in from the caller's shell.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NEXUS_")));
  const child = spawn(process.execPath, [NEXUS_BIN, "-d", dataDir, "up", "--port", "0", ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child.pid);
  const listeners = new Set<() => void>();
  const onData = (c: Buffer) => {
    out += c;
    for (const l of listeners) l();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const known = new Set<number>();
  const remember = (s: UpStatus) => {
    for (const pid of [s.nats.pid, ...s.services.map((x) => x.pid)]) {
      if (pid) {
        known.add(pid);
        track(pid);
      }
    }
  };
  const up: NexusUp = {
    child,
    dataDir,
    output: () => out,
    waitOutput: (re, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (m) done(() => resolve(m));
          else if (child.exitCode !== null || child.signalCode !== null)
            done(() => reject(new Error(`nexus up exited early; output:\n${out}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`timed out waiting for ${re}; output:\n${out}`))),
          timeoutMs,
        );
        const onExit = () => check();
        const done = (f: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off("exit", onExit);
          f();
        };
        listeners.add(check);
        child.on("exit", onExit);
        check();
      }),
    status: async () => {
      const s = await controlRequest<UpStatus>(dataPaths(dataDir).controlSocket, "GET", "/status");
      remember(s);
      return s;
    },
    stop: async () => {
      await up.status().catch(() => undefined);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once("exit", () => r()));
        child.kill("SIGTERM");
        await Promise.race([exited, sleep(20_000)]);
      }
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      // A graceful stop leaves nothing; give stragglers a moment, then kill them.
      const deadline = Date.now() + 5000;
      while ([...known].some(alive) && Date.now() < deadline) await sleep(50);
      for (const pid of known) if (alive(pid)) process.kill(pid, "SIGKILL");
    },
  };
  return up;
}

/** Starts `nexus up`, waits for "All N service(s) ready", runs `fn`, always stops it and removes the dir. */
export async function withNexusUp<T>(
  args: string[],
  fn: (up: NexusUp) => Promise<T>,
  opts: { dataDir?: string; keepDir?: boolean } = {},
): Promise<T> {
  const up = spawnUp(args, opts.dataDir);
  const unregister = onCleanup(() => up.stop());
  try {
    await up.waitOutput(/All \d+ service\(s\) ready/, 90_000);
    return await fn(up);
  } finally {
    await up.stop();
    unregister();
    if (!opts.keepDir) removeDir(up.dataDir);
  }
}

// ---- in-process appliance (test harness) ----------------------------------------------------------------

/** Stops an appliance started with `startTestAppliance` (bounded), kills leftovers, removes its data dir. */
export async function removeAppliance(app: TestAppliance): Promise<void> {
  const pids = [app.supervisor.natsState().pid, ...app.supervisor.status().map((s) => s.pid)].filter(
    (p): p is number => typeof p === "number",
  );
  await Promise.race([app.stop(), sleep(20_000)]);
  for (const pid of pids) if (alive(pid)) process.kill(pid, "SIGKILL");
  removeDir(app.dataDir);
}
