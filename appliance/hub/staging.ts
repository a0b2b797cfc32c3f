/**
 * The staging files of the boxes' blob uploads (`<dir>/<site>-<sha256>`, see blobs.ts) and their cleanup:
 * a box that stops sending, is revoked or sends garbage would otherwise leave its partial upload there for
 * ever, and the hub's disk fills.
 *
 * Invariants:
 * - A file an upload is appending to or verifying right now is never removed: the upload holds it busy, and
 *   the sweep checks that, re-stats and unlinks each file in one synchronous step (no upload can start in
 *   between).
 * - A file of a site that is revoked or not in the registry goes at the next sweep, whatever its age; any
 *   other goes once it has not been written for `maxAgeMs` (every append moves its mtime). Names that are not
 *   `<site>-<sha256>` go by age only.
 */
import { lstatSync, mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { Logger } from "../kit/index.js";
import type { HubQuery } from "./db.js";
import { siteStatuses } from "./sites.js";

const HOUR = 3_600_000;

/** How long an untouched partial upload is kept, and how often the hub looks (both in ms). */
export interface StagingOptions {
  maxAgeMs: number;
  sweepIntervalMs: number;
}

export const stagingDefaults: StagingOptions = { maxAgeMs: 7 * 24 * HOUR, sweepIntervalMs: HOUR };

const ms = z.coerce.number().int().positive();
// A node timer longer than 2^31 - 1 ms fires after 1 ms, every time: a "35 days" interval would spin.
const TIMER_MAX_MS = 2 ** 31 - 1;
const stagingEnvSchema = z.object({
  NEXUS_HUB_STAGING_MAX_AGE_MS: ms.optional(),
  NEXUS_HUB_STAGING_SWEEP_INTERVAL_MS: ms.max(TIMER_MAX_MS).optional(),
});

/** Defaults, then NEXUS_HUB_STAGING_MAX_AGE_MS / NEXUS_HUB_STAGING_SWEEP_INTERVAL_MS, then `given`. */
export function stagingOptions(
  given: Partial<StagingOptions> | undefined,
  env: NodeJS.ProcessEnv = process.env,
): StagingOptions {
  const e = stagingEnvSchema.parse(env);
  const fromEnv: Partial<StagingOptions> = {};
  if (e.NEXUS_HUB_STAGING_MAX_AGE_MS) fromEnv.maxAgeMs = e.NEXUS_HUB_STAGING_MAX_AGE_MS;
  if (e.NEXUS_HUB_STAGING_SWEEP_INTERVAL_MS) fromEnv.sweepIntervalMs = e.NEXUS_HUB_STAGING_SWEEP_INTERVAL_MS;
  const opts = { ...stagingDefaults, ...fromEnv, ...given };
  if (!(opts.sweepIntervalMs > 0 && opts.sweepIntervalMs <= TIMER_MAX_MS))
    throw new RangeError(`the staging sweep interval is 1 to ${TIMER_MAX_MS} ms`);
  return opts;
}

/** The staging directory and which of its files uploads are busy with. */
export class BlobStaging {
  private readonly busy = new Map<string, number>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** Where `site`'s partial upload of `sha` is kept. */
  path(site: string, sha: string): string {
    return join(this.dir, `${site}-${sha}`);
  }

  /** Runs `work` with `file` marked busy, so that no sweep removes it meanwhile. */
  async hold<T>(file: string, work: () => Promise<T>): Promise<T> {
    this.busy.set(file, (this.busy.get(file) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const n = (this.busy.get(file) ?? 1) - 1;
      if (n > 0) this.busy.set(file, n);
      else this.busy.delete(file);
    }
  }

  /** Whether an upload is working on `file` now. */
  isBusy(file: string): boolean {
    return this.busy.has(file);
  }
}

export interface SweepResult {
  removed: number;
  bytes: number;
  /** Of `removed`: not written for longer than the max age. */
  expired: number;
  /** Of `removed`: of a site that is revoked or unknown. */
  orphaned: number;
}

const STAGED = /^(.+)-([0-9a-f]{64})$/;

/** Removes the staging files of revoked and unknown sites, and those not written for `maxAgeMs`. */
export async function sweepStaging(
  db: HubQuery,
  staging: BlobStaging,
  opts: { maxAgeMs: number; now?: number },
): Promise<SweepResult> {
  const status = await siteStatuses(db);
  const now = opts.now ?? Date.now();
  const result: SweepResult = { removed: 0, bytes: 0, expired: 0, orphaned: 0 };
  let names: string[];
  try {
    names = readdirSync(staging.dir);
  } catch {
    return result;
  }
  for (const name of names) {
    const file = join(staging.dir, name);
    // From here to the unlink nothing awaits: an upload cannot start on this file in between.
    if (staging.isBusy(file)) continue;
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(file);
    } catch {
      continue;
    }
    if (!stat.isFile()) continue;
    const site = STAGED.exec(name)?.[1];
    const orphaned = site !== undefined && status.get(site) !== "active";
    const expired = now - stat.mtimeMs > opts.maxAgeMs;
    if (!orphaned && !expired) continue;
    try {
      unlinkSync(file);
    } catch {
      continue;
    }
    result.removed++;
    result.bytes += stat.size;
    if (orphaned) result.orphaned++;
    else result.expired++;
  }
  return result;
}

/**
 * The hub's periodic sweep, logged when it removes anything. One sweep at a time; asking while one runs queues
 * one more after it (a revocation must not be missed by a sweep that read the registry just before it).
 */
export function stagingSweeper(db: HubQuery, staging: BlobStaging, log: Logger, opts: StagingOptions) {
  let stopped = false;
  let tail: Promise<void> = Promise.resolve();
  let queued: Promise<void> | null = null;
  const once = () =>
    sweepStaging(db, staging, { maxAgeMs: opts.maxAgeMs })
      .then((r) => {
        if (r.removed > 0) log.info(r, "blob staging swept: abandoned partial uploads removed");
        else log.debug("blob staging swept: nothing to remove");
      })
      .catch((err) => log.warn({ err }, "sweeping the blob staging dir failed"));
  const run = (): Promise<void> => {
    if (stopped) return tail;
    if (!queued) {
      queued = tail.then(() => {
        queued = null;
        return stopped ? undefined : once();
      });
      tail = queued;
    }
    return queued;
  };
  const timer = setInterval(() => void run(), opts.sweepIntervalMs);
  timer.unref();
  return {
    /** Sweeps as soon as the sweep under way (if any) is done. */
    run,
    /** No more sweeps; waits for one under way. */
    async stop() {
      stopped = true;
      clearInterval(timer);
      await tail;
    },
  };
}
