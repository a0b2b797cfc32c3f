/**
 * The upgrade marker (/opt/nexus/upgrade.json): which step an upgrade reached, written (fsynced, renamed)
 * before each step's effects, so the next start after a power cut knows whether to finish or roll back.
 * And the last upgrade's outcome (<data>/last-upgrade.json), which `nexus status` and the console show.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";

export const STEPS = [
  "installed",
  "stopped",
  "snapshot",
  "switched",
  "started",
  "committed",
  "rolling-back",
] as const;
export type Step = (typeof STEPS)[number];

export interface Marker {
  from: string;
  to: string;
  step: Step;
  snapshotId?: string;
  reason?: string;
  startedAt: string;
}

export interface UpgradeOutcome {
  outcome: "committed" | "rolled-back";
  from: string;
  to: string;
  /** Why it was rolled back. */
  reason?: string;
  at: string;
  seconds?: number;
}

/** Writes a JSON file durably: temp file, fsync, rename. */
export function writeDurable(file: string, value: unknown): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, "w", 0o644);
  try {
    writeSync(fd, `${JSON.stringify(value, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export function readMarker(file: string): Marker | null {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Marker;
  } catch {
    return null; // a marker cut mid-write never replaced the old one (rename), so this is garbage: ignore
  }
}

export function clearMarker(file: string): void {
  rmSync(file, { force: true });
}

/** Where the last upgrade's outcome is kept in a data dir. */
export const outcomeFile = (dataDir: string) => join(dataDir, "last-upgrade.json");

/** The last upgrade's outcome on this data dir; null when none ran. */
export function readOutcome(dataDir: string): UpgradeOutcome | null {
  try {
    return JSON.parse(readFileSync(outcomeFile(dataDir), "utf8")) as UpgradeOutcome;
  } catch {
    return null;
  }
}

/** Compares dotted versions numerically (0.10.0 > 0.9.0); a pre-release sorts before its release. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core = "", pre] = v.split("-", 2);
    return { nums: core.split(".").map((n) => Number.parseInt(n, 10) || 0), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
    if (d) return Math.sign(d);
  }
  if (x.pre === y.pre) return 0;
  if (!x.pre) return 1;
  if (!y.pre) return -1;
  return x.pre < y.pre ? -1 : 1;
}
