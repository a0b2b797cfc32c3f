/**
 * What the job runner, the API and the CLI use of the backup engine (appliance/backup/index.ts, the
 * backup-core work): its functions as one object, so the runner takes the engine as a parameter. The
 * signatures are the functions' own (no second copy to keep in step).
 */

import type { listBackups } from "./manifest.js";
import type { pruneBackups } from "./prune.js";
import type { restoreBackup } from "./restore.js";
import type { createBackup } from "./snapshot.js";
import type { BackupDestination } from "./types.js";
import type { verifyBackup } from "./verify.js";

export type VerifyResult = Awaited<ReturnType<typeof verifyBackup>>;
export type RestorePlan = Awaited<ReturnType<typeof restoreBackup>>;

export interface BackupEngine {
  createBackup: typeof createBackup;
  listBackups: typeof listBackups;
  verifyBackup: typeof verifyBackup;
  restoreBackup: typeof restoreBackup;
  pruneBackups: typeof pruneBackups;
}

/**
 * The engine, loaded on its first use: the supervisor holds backups from the start (schedule, /metrics, the
 * API's overview) but the engine's code (snapshots, age, tar, the S3 client) only loads when a job runs or a
 * destination is listed. Destinations are parsed without it.
 */
export function lazyEngine(
  parseDestination: (spec: string) => BackupDestination,
): BackupEngine & { parseDestination(spec: string): BackupDestination } {
  const engine = (): Promise<BackupEngine> => import("./index.js");
  return {
    parseDestination,
    createBackup: async (opts) => (await engine()).createBackup(opts),
    listBackups: async (destination) => (await engine()).listBackups(destination),
    verifyBackup: async (opts) => (await engine()).verifyBackup(opts),
    restoreBackup: async (opts) => (await engine()).restoreBackup(opts),
    pruneBackups: async (opts) => (await engine()).pruneBackups(opts),
  };
}
