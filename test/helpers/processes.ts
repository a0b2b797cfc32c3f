/**
 * Ending the processes a test started, for teardown. A signal only asks a process to stop: nats-server, for
 * one, still writes its JetStream files while it shuts down, so removing its store dir right after `kill()`
 * races those writes (ENOTEMPTY). Each function here resolves only once the process has really exited.
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";

/** Whether the child has already exited (by code or by signal). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves when `child` has exited; SIGKILLs it if it is still running after `killAfterMs`. */
export async function exited(child: ChildProcess, killAfterMs = 5_000): Promise<void> {
  if (hasExited(child)) return;
  const done = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
  try {
    await done;
  } finally {
    clearTimeout(timer);
  }
}

/** Sends `signal` to `child` and resolves once it has exited (SIGKILL after `graceMs`). */
export async function stopChild(
  child: ChildProcess | null | undefined,
  signal: NodeJS.Signals = "SIGTERM",
  graceMs = 5_000,
): Promise<void> {
  if (!child || hasExited(child)) return;
  const done = exited(child, graceMs);
  child.kill(signal);
  await done;
}

/**
 * SIGKILLs a process that is not this one's child (a nats-server that outlived its killed parent) and resolves
 * once it is gone: no `exit` event exists for it, so /proc is polled until the pid is gone or a zombie (a
 * zombie has exited and holds no files).
 */
export async function killPid(pid: number, timeoutMs = 10_000): Promise<void> {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return; // already gone
  }
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still running ${timeoutMs} ms after SIGKILL`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function isRunning(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may hold spaces or parentheses, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}
