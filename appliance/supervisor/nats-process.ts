/**
 * A nats-server process owned by one Node process (the box's supervisor or the hub), shared by both.
 * Invariants: a nats-server does not outlive its owner for long, and a new owner never starts one beside a
 * server left by an earlier owner of the same pid file (they would share the JetStream store and fight over
 * the ports). nats-server cannot watch its parent, and Node cannot set PR_SET_PDEATHSIG, so each server gets a
 * watchdog: a tiny `sh` holding a pipe from the owner. The kernel closes the pipe when the owner dies, however
 * it dies (kill -9 included); the watchdog reads EOF, sends SIGTERM, and SIGKILL after a grace period.
 * Generic: imports nothing of the appliance.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cmdline, isAlive, readPid, removePid, writePid } from "../lib/pidfile.js";

/** Seconds between the watchdog's SIGTERM and its SIGKILL. */
const WATCHDOG_GRACE_S = 5;

/**
 * `$1` is nats-server's pid. `read` returns only at EOF (nothing is ever written), i.e. when the owner is gone.
 * The owner kills the watchdog when nats-server exits first, so `$1` cannot be a reused pid.
 */
const WATCHDOG_SCRIPT = [
  "read -r _",
  'kill -TERM "$1" 2>/dev/null',
  "i=0",
  `while kill -0 "$1" 2>/dev/null && [ "$i" -lt ${WATCHDOG_GRACE_S * 10} ]; do sleep 0.1; i=$((i+1)); done`,
  'kill -KILL "$1" 2>/dev/null',
].join("\n");

/** What `ps` shows for the watchdog (its $0). */
export const WATCHDOG_NAME = "nexus-nats-watchdog";

export interface NatsSpawnOptions {
  bin: string;
  confFile: string;
  /** Where the server's pid is kept, for `reapStaleNats` after an owner that died without stopping it. */
  pidFile: string;
  logFd: number | "ignore";
}

/** Spawns `bin -c confFile` with a watchdog that ends it when this process dies; records its pid. */
export function spawnNatsServer(opts: NatsSpawnOptions): ChildProcess {
  const child = spawn(opts.bin, ["-c", opts.confFile], { stdio: ["ignore", opts.logFd, opts.logFd] });
  if (!child.pid) return child; // spawn failed: the caller sees the child's "error" event
  writePid(opts.pidFile, child.pid);
  const watchdog = spawn("sh", ["-c", WATCHDOG_SCRIPT, WATCHDOG_NAME, String(child.pid)], {
    stdio: ["pipe", "ignore", "ignore"],
  });
  watchdog.on("error", () => undefined); // no sh: the pid file still lets the next owner reap the server
  // Neither the watchdog nor its pipe may keep this process alive.
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  child.once("exit", () => {
    watchdog.kill("SIGKILL");
    removePid(opts.pidFile);
  });
  return child;
}

/**
 * Ends a nats-server left by an earlier owner: the pid file names a live process whose command line is
 * nats-server with this `confFile` (so a reused pid is never killed). SIGTERM, then SIGKILL after `graceMs`;
 * resolves once it is gone, with its pid, or null when there was none.
 */
export async function reapStaleNats(
  pidFile: string,
  confFile: string,
  graceMs = 5000,
): Promise<number | null> {
  const pid = readPid(pidFile);
  const cmd = pid ? cmdline(pid) : "";
  if (!pid || !cmd.includes("nats-server") || !cmd.includes(confFile)) {
    removePid(pidFile);
    return null;
  }
  signal(pid, "SIGTERM");
  if (!(await gone(pid, graceMs))) {
    signal(pid, "SIGKILL");
    await gone(pid, 5000);
  }
  removePid(pidFile);
  return pid;
}

function signal(pid: number, sig: NodeJS.Signals) {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Polls until `pid` is gone (or a zombie: its ports and files are released); false after `ms`. */
async function gone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
