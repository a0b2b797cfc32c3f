/**
 * Runs ffmpeg (or ffprobe) as an argument array, never through a shell, in its own process group
 * (`detached: true`), so killing the job kills every process it started (`kill(-pid)`). Limits: wall time,
 * bytes written under the job's work folder, address space (`prlimit --as`, when the box has it). The pid
 * is reported as soon as it exists, so a restarted service can sweep what a crash left behind.
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Progress, ProgressParser } from "./progress.js";
import { onPath } from "./resolve.js";

export interface RunLimits {
  timeoutMs: number;
  /** Bytes all files under `cwd` may take together. */
  maxOutputBytes: number;
  /** Address-space limit; 0: none. */
  memoryBytes: number;
}

export interface RunOptions {
  bin: string;
  args: readonly string[];
  cwd: string;
  limits: RunLimits;
  /** Input duration, for progress %; 0 when unknown. */
  durationSeconds?: number;
  onProgress?: (p: Progress) => void;
  onPid?: (pid: number) => void;
  signal?: AbortSignal;
  /** Collect stdout (ffprobe's JSON, raw samples) instead of parsing progress from it. */
  stdout?: "progress" | "collect" | ((chunk: Buffer) => void);
  maxCollectBytes?: number;
}

/** Why a run failed, in words a person can act on. */
export class FfmpegError extends Error {
  constructor(
    message: string,
    readonly kind: "exit" | "timeout" | "output-size" | "cancelled" | "spawn",
    readonly stderrTail = "",
  ) {
    super(message);
    this.name = "FfmpegError";
  }
}

const PRLIMIT = onPath("prlimit");

/** Kills a whole process group; a group already gone is not an error. */
export function killGroup(pid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone already
  }
}

/** Bytes under `dir` (recursive). */
export function folderBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    try {
      total += e.isDirectory() ? folderBytes(p) : statSync(p).size;
    } catch {
      // removed meanwhile
    }
  }
  return total;
}

/** Runs to completion; resolves with collected stdout (empty unless asked), rejects with FfmpegError. */
export function runFfmpeg(opts: RunOptions): Promise<Buffer> {
  const mode = opts.stdout ?? "progress";
  const head = mode === "progress" ? ["-hide_banner", "-nostdin", "-nostats", "-progress", "pipe:1"] : [];
  const args = [...head, ...opts.args];
  const [file, argv] =
    opts.limits.memoryBytes > 0 && PRLIMIT
      ? [PRLIMIT, [`--as=${opts.limits.memoryBytes}`, "--", opts.bin, ...args]]
      : [opts.bin, args];
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new FfmpegError("cancelled", "cancelled"));
    const child = spawn(file, argv, { cwd: opts.cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let failure: FfmpegError | null = null;
    const fail = (e: FfmpegError) => {
      failure ??= e;
      if (child.pid) killGroup(child.pid);
    };
    if (child.pid) opts.onPid?.(child.pid);
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString("utf8")).slice(-4000);
    });
    const chunks: Buffer[] = [];
    let collected = 0;
    const parser = new ProgressParser(opts.durationSeconds ?? 0, (p) => opts.onProgress?.(p));
    child.stdout.on("data", (d: Buffer) => {
      if (typeof mode === "function") mode(d);
      else if (mode === "progress") parser.push(d.toString("utf8"));
      else {
        collected += d.length;
        if (collected > (opts.maxCollectBytes ?? 16 * 1024 * 1024))
          fail(new FfmpegError("too much output from ffprobe", "output-size"));
        else chunks.push(d);
      }
    });
    const timer = setTimeout(
      () => fail(new FfmpegError(`took longer than ${opts.limits.timeoutMs / 1000} s`, "timeout")),
      opts.limits.timeoutMs,
    );
    const watch = setInterval(() => {
      if (folderBytes(opts.cwd) > opts.limits.maxOutputBytes)
        fail(new FfmpegError(`output grew past ${opts.limits.maxOutputBytes} bytes`, "output-size"));
    }, 250);
    const onAbort = () => fail(new FfmpegError("cancelled", "cancelled"));
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const finish = () => {
      clearTimeout(timer);
      clearInterval(watch);
      opts.signal?.removeEventListener("abort", onAbort);
    };
    child.once("error", (err) => {
      finish();
      reject(new FfmpegError(`cannot run ${opts.bin}: ${err.message}`, "spawn"));
    });
    child.once("close", (code, sig) => {
      finish();
      // The group may hold helpers that outlive ffmpeg itself.
      if (child.pid) killGroup(child.pid);
      if (failure) return reject(new FfmpegError(failure.message, failure.kind, stderr));
      if (code !== 0) {
        return reject(new FfmpegError(exitReason(stderr, code, sig), "exit", stderr));
      }
      resolve(Buffer.concat(chunks));
    });
  });
}

/** The last meaningful stderr line, or the exit status. */
function exitReason(stderr: string, code: number | null, sig: NodeJS.Signals | null): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("frame=") && !/^(Input|Output|Stream|Duration|Metadata)/.test(l));
  const last = lines.at(-1) ?? "";
  const status = sig ? `killed by ${sig}` : `exit code ${code}`;
  if (/Cannot allocate memory|out of memory/i.test(stderr)) return `ran out of memory (${status})`;
  return last ? `${last.slice(0, 300)} (${status})` : status;
}
