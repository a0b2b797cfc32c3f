/**
 * What the job runner, the API and the CLI use of the backup engine (appliance/backup/index.ts, the
 * backup-core work): its functions as one object, so the runner takes the engine as a parameter.
 */

import type { SyncEpoch } from "./sync-epoch.js";
import type {
  BackupDecryptionKey,
  BackupDestination,
  BackupEncryptionKey,
  BackupProgress,
  BackupReason,
  BackupSummary,
  RetentionPolicy,
} from "./types.js";

export type VerifyResult = { ok: true } | { ok: false; problems: { part: string; reason: string }[] };
export interface RestorePlan {
  changes: { path: string; action: "create" | "replace" | "delete" }[];
  applied: boolean;
  /** An enrolled box: the new sync epoch of each restored database (see sync-epoch.ts). */
  syncEpochs?: SyncEpoch[];
}

export interface BackupEngine {
  createBackup(opts: {
    dataDir: string;
    destination: BackupDestination;
    key: BackupEncryptionKey;
    includeSecrets?: boolean;
    reason?: BackupReason;
    onProgress?: (p: BackupProgress) => void;
    signal?: AbortSignal;
  }): Promise<BackupSummary>;
  listBackups(destination: BackupDestination): Promise<BackupSummary[]>;
  verifyBackup(opts: {
    destination: BackupDestination;
    id: string;
    key: BackupDecryptionKey;
    onProgress?: (p: BackupProgress) => void;
  }): Promise<VerifyResult>;
  restoreBackup(opts: {
    dataDir: string;
    destination: BackupDestination;
    id: string;
    key: BackupDecryptionKey;
    dryRun?: boolean;
    onProgress?: (p: BackupProgress) => void;
  }): Promise<RestorePlan>;
  pruneBackups(opts: {
    destination: BackupDestination;
    policy: RetentionPolicy;
    now?: Date;
    dryRun?: boolean;
  }): Promise<{ kept: string[]; removed: string[] }>;
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
