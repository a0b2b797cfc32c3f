/**
 * Per-unit log files. A child writes straight into its file (its stdout/stderr are the file's descriptor,
 * opened O_APPEND), so logging costs the supervisor nothing. Rotation is copy-then-truncate by size: the
 * child's descriptor stays valid and, being O_APPEND, writes continue at the new end.
 */
import { closeSync, copyFileSync, existsSync, openSync, renameSync, statSync, truncateSync } from "node:fs";

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

/** Rotates `file` when it is over `maxBytes`: file → file.1 → … → file.<keep>; the oldest goes. */
export function rotateIfNeeded(file: string, maxBytes: number, keep: number): boolean {
  if (!existsSync(file) || statSync(file).size <= maxBytes) return false;
  for (let i = keep - 1; i >= 1; i--) {
    if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
  }
  copyFileSync(file, `${file}.1`);
  truncateSync(file, 0);
  return true;
}
