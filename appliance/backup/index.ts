/** The backup engine's public surface (see docs/backup.md); the contracts are in types.ts. */

export { BackupKeyError } from "./crypto.js";
export { parseDestination } from "./destination.js";
export { folderDestination } from "./destination-folder.js";
export { listBackups } from "./manifest.js";
export { BackupPartDamagedError } from "./parts-io.js";
export { planRetention, pruneBackups } from "./prune.js";
export { restoreBackup } from "./restore.js";
export { BackupTooNewError } from "./schema.js";
export { createBackup } from "./snapshot.js";
export * from "./types.js";
export { upgradeSnapshots } from "./upgrade-snapshot.js";
export { verifyBackup } from "./verify.js";
