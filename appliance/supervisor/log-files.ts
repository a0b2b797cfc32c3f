/**
 * Per-unit log files. A child writes straight into its file (its stdout/stderr are the file's descriptor,
 * opened O_APPEND), so logging costs the supervisor nothing. Rotation is copy-then-truncate by size: the
 * child's descriptor stays valid and, being O_APPEND, writes continue at the new end.
 */
import {
  closeSync,
  copyFileSync,
  createReadStream,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
} from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { isDiskFullError } from "../kit/disk.js";
import { SERVICE_NAME } from "../lib/names.js";

/** Opens a log file for appending; returns its descriptor. */
export function openLog(file: string): number {
  return openSync(file, "a", 0o640);
}

export function closeLog(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/**
 * Rotates `file` when it is over `maxBytes`: file → file.1 → … → file.<keep>; the oldest goes. When the disk
 * cannot take the copy (full), the log is truncated without one: its lines are lost, but the space comes back
 * and the supervisor, whose timer calls this, does not die of an ENOSPC.
 */
export function rotateIfNeeded(file: string, maxBytes: number, keep: number): boolean {
  if (!existsSync(file) || statSync(file).size <= maxBytes) return false;
  for (let i = keep - 1; i >= 1; i--) {
    if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
  }
  try {
    copyFileSync(file, `${file}.1`);
  } catch (err) {
    if (!isDiskFullError(err)) throw err;
    rmSync(`${file}.1`, { force: true }); // a partial copy would only hold the space
  }
  truncateSync(file, 0);
  return true;
}

/** A unit's log as a reader sees it: which file, and which lines of it belong to the service asked for. */
export interface LogSource {
  file: string;
  /** True when every line of the file is the service's own (not the shared unit's file). */
  whole: boolean;
  /** True for a line of this service (all lines, unless the file is the shared unit's). */
  keep: (line: string) => boolean;
}

/**
 * The log of a service (its own unit's file, or the shared `services` unit's lines tagged with it), of
 * `supervisor` or of `nats`. Names are checked before any path is built, so no input reaches outside `logs/`.
 * Throws when the name is invalid or there is no log yet.
 */
export function logSource(logsDir: string, name: string): LogSource {
  if (!SERVICE_NAME.test(name)) throw new Error(`invalid name: ${name}`);
  const own = join(logsDir, `${name}.log`);
  if (existsSync(own)) return { file: own, whole: true, keep: () => true };
  const shared = join(logsDir, "services.log");
  const tag = `"service":"${name}"`;
  if (existsSync(shared) && readFileSync(shared, "utf8").includes(tag)) {
    return { file: shared, whole: false, keep: (l) => !l.startsWith("{") || l.includes(tag) };
  }
  throw new Error(`no log for ${name} in ${logsDir}`);
}

/** Reads at most this much of a log's end for a tail: a 10 MiB file costs no more than a small one. */
const TAIL_BYTES = 2 * 1024 * 1024;

/**
 * The last `n` kept lines of a log (from its last 2 MiB; none for n = 0), and the byte offset a follower
 * continues from.
 */
export function tailLog(
  src: LogSource,
  n: number,
  match?: (line: string) => boolean,
): { lines: string[]; end: number } {
  const size = statSync(src.file).size;
  const start = Math.max(0, size - TAIL_BYTES);
  const buf = Buffer.alloc(size - start);
  const fd = openSync(src.file, "r");
  try {
    readSync(fd, buf, 0, buf.length, start);
  } finally {
    closeSync(fd);
  }
  const all = buf.toString("utf8").split("\n");
  if (start > 0) all.shift(); // a partial first line
  const lines = all.filter((l) => l && src.keep(l) && (!match || match(l)));
  // slice(-0) is the whole array: 0 lines asked for is none.
  return { lines: n > 0 ? lines.slice(-n) : [], end: size };
}

/**
 * Follows a log from byte `from`, calling `onLines` with each batch of new kept lines, until `signal` aborts.
 * Survives copy-truncate rotation (the file shrinks: read again from its start).
 */
export async function followLog(
  src: LogSource,
  from: number,
  onLines: (lines: string[]) => void,
  signal: AbortSignal,
  everyMs = 250,
): Promise<void> {
  let pos = from;
  let partial = "";
  while (!signal.aborted) {
    await sleep(everyMs);
    if (signal.aborted) return;
    const size = existsSync(src.file) ? statSync(src.file).size : 0;
    if (size < pos) pos = 0; // rotated (copy-truncate)
    if (size === pos) continue;
    const chunk = await readRange(src.file, pos, size);
    pos = size;
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    const kept = parts.filter((l) => l && src.keep(l));
    if (kept.length) onLines(kept);
  }
}

function readRange(file: string, start: number, end: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = "";
    createReadStream(file, { start, end: end - 1, encoding: "utf8" })
      .on("data", (c) => {
        s += c;
      })
      .on("end", () => resolve(s))
      .on("error", reject);
  });
}
