/**
 * What the job runner, the API and the CLI use of the backup engine (appliance/backup/index.ts, the
 * backup-core work): its functions as one object, so the runner takes the engine as a parameter. The
 * signatures are the functions' own (no second copy to keep in step).
 */
import type { listBackups } from "./manifest.js";
import type { pruneBackups } from "./prune.js";
import type { restoreBackup } from "./restore.js";
import type { createBackup } from "./snapshot.js";
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
