/**
 * Retention (restic-style keep-last / keep-daily / keep-weekly, a backup kept by any rule stays), the
 * removal of what it drops, the blobs no kept backup references, and the leftovers of interrupted runs.
 * Prune and create must not run at the same time on one destination (the scheduler runs them in turn): a
 * create that found a blob present could otherwise lose it to a prune that saw no manifest naming it.
 */
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { listBackups, readManifestFile } from "./manifest.js";
import type { BackupDestination, RetentionPolicy } from "./types.js";

export interface Dated {
  id: string;
  createdAt: string;
}

/** ISO week of a date (UTC), e.g. `2026-W50`. */
function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const jan1 = new Date(Date.UTC(t.getUTCFullYear(), 0, 1));
  const week = Math.ceil(((t.getTime() - jan1.getTime()) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

/** Which backups a policy keeps (pure: the table tests call it with plain objects). */
export function planRetention(
  backups: readonly Dated[],
  policy: RetentionPolicy,
): { kept: string[]; removed: string[] } {
  const newestFirst = [...backups].sort(
    (a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id),
  );
  const keep = new Set<string>();
  for (const b of newestFirst.slice(0, Math.max(0, policy.keepLast))) keep.add(b.id);
  const byBucket = (bucket: (d: Date) => string, n: number) => {
    const seen = new Set<string>();
    for (const b of newestFirst) {
      if (seen.size >= n) break;
      const k = bucket(new Date(b.createdAt));
      if (seen.has(k)) continue;
      seen.add(k);
      keep.add(b.id);
    }
  };
  byBucket((d) => d.toISOString().slice(0, 10), Math.max(0, policy.keepDaily));
  byBucket(isoWeek, Math.max(0, policy.keepWeekly));
  return {
    kept: newestFirst.filter((b) => keep.has(b.id)).map((b) => b.id),
    removed: newestFirst.filter((b) => !keep.has(b.id)).map((b) => b.id),
  };
}

/** Removes a backup: its manifest first (it stops being listed), then its parts. */
export async function removeSnapshot(dest: BackupDestination, id: string): Promise<void> {
  await dest.remove(`snapshots/${id}/manifest.json`);
  for (const key of await dest.list(`snapshots/${id}/`)) await dest.remove(key);
}

/** How old a snapshot without a manifest must be before it counts as the leftover of a killed run. */
const LEFTOVER_AGE_MS = 60 * 60 * 1000;

/** The time in a backup id (`20261207T153000Z-…`). */
function idTime(id: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-/.exec(id);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : Number.NaN;
}

/** Removes snapshots that never got their manifest and are over an hour old (a run still going is younger). */
export async function removeLeftovers(dest: BackupDestination, now: Date): Promise<string[]> {
  const keys = await dest.list("snapshots/");
  const complete = new Set(keys.filter((k) => k.endsWith("/manifest.json")).map((k) => k.split("/")[1]));
  const removed = new Set<string>();
  for (const key of keys) {
    const id = key.split("/")[1] ?? "";
    if (complete.has(id) || !(now.getTime() - idTime(id) > LEFTOVER_AGE_MS)) continue;
    await dest.remove(key);
    removed.add(id);
  }
  return [...removed];
}

/** Removes the data dir's staging folders of runs killed over an hour ago (`<data>/backups/staging/<id>`). */
export async function removeStaleStaging(dataDir: string, now: Date): Promise<void> {
  const root = join(dataDir, "backups", "staging");
  const entries = await readdir(root).catch(() => [] as string[]);
  for (const name of entries) {
    if (now.getTime() - idTime(name.replace(/^restore-/, "")) > LEFTOVER_AGE_MS) {
      await rm(join(root, name), { recursive: true, force: true });
    }
  }
}

/** Applies a retention policy to a destination; with `dryRun` only says what it would remove. */
export async function pruneBackups(opts: {
  destination: BackupDestination;
  policy: RetentionPolicy;
  now?: Date;
  dryRun?: boolean;
}): Promise<{ kept: string[]; removed: string[] }> {
  const dest = opts.destination;
  const plan = planRetention(await listBackups(dest), opts.policy);
  if (opts.dryRun) return plan;
  for (const id of plan.removed) await removeSnapshot(dest, id);
  const referenced = new Set<string>();
  for (const id of plan.kept) for (const k of (await readManifestFile(dest, id)).blobKeys) referenced.add(k);
  for (const key of await dest.list("blobs/")) if (!referenced.has(key)) await dest.remove(key);
  await removeLeftovers(dest, opts.now ?? new Date());
  return plan;
}
