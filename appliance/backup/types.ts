/**
 * The backup subsystem's contracts, shared by the engine (snapshot, encryption, manifest, verify, restore,
 * prune), the destinations (folder, S3/MinIO, hub), the scheduler, the API/CLI/console and the installer's
 * upgrade (its before-upgrade snapshot). Types only: each piece implements or consumes them in its own file.
 */
import type { Readable } from "node:stream";

/**
 * Where backups go: a local folder or mounted USB disk, an S3/MinIO bucket (prefix), the hub. Keys are
 * relative, `/`-separated, built by the engine only (never from input): `snapshots/<id>/manifest.json`,
 * `snapshots/<id>/parts/<name>`, `blobs/<sha256>`.
 */
export interface BackupDestination {
  readonly kind: "folder" | "s3" | "hub";
  /** For people and logs: where it is, never a secret (no keys, no passwords). */
  readonly description: string;
  /** Writes a key atomically: a reader sees nothing or the whole object, never a part (kill -9 mid-write,
   *  disk full). Overwrites an existing key. Throws `BackupDestinationFullError` when the target is full. */
  put(key: string, body: Readable | Buffer, size?: number): Promise<void>;
  /** Streams a key; throws `BackupPartMissingError` when absent. */
  get(key: string): Promise<Readable>;
  has(key: string): Promise<boolean>;
  /** Every key under a prefix (recursively), in no particular order. */
  list(prefix: string): Promise<string[]>;
  /** Removes a key; absent is not an error. */
  remove(key: string): Promise<void>;
}

/** What encrypts a backup: a passphrase (scrypt) or an age X25519 recipient (`age1…`). */
export type BackupEncryptionKey = { passphrase: string } | { recipient: string };
/** What decrypts one: the passphrase, or the age identity (`AGE-SECRET-KEY-1…`). Never stored with backups. */
export type BackupDecryptionKey = { passphrase: string } | { identity: string };

export type BackupReason = "manual" | "scheduled" | "before-upgrade";

/** Progress of a long run, for progress bars in the CLI, the API (job status) and the console. */
export interface BackupProgress {
  phase: "databases" | "blobs" | "config" | "upload" | "verify" | "restore" | "done";
  /** Bytes handled so far and in all (total may grow while blobs are discovered). */
  bytesDone: number;
  bytesTotal: number;
  /** The part being worked on, for display. */
  current?: string;
}

/** One backup as `list` shows it (read from its manifest; no decryption needed for these fields). */
export interface BackupSummary {
  id: string;
  createdAt: string;
  reason: BackupReason;
  applianceVersion: string;
  siteId: string | null;
  /** Bytes of the snapshot's own parts plus the blobs it references. */
  sizeBytes: number;
  /** Blobs written by this backup (0 for a second backup of an unchanged box). */
  blobsCopied: number;
  blobsReferenced: number;
  secretsIncluded: boolean;
}

/** Keep-last / keep-daily / keep-weekly (restic-style); a backup kept by any rule stays. */
export interface RetentionPolicy {
  keepLast: number;
  keepDaily: number;
  keepWeekly: number;
}

/** The before-upgrade snapshot the installer takes before migrations and restores on rollback. */
export interface UpgradeSnapshots {
  take(opts: { dataDir: string; fromVersion: string; toVersion: string }): Promise<{ id: string }>;
  /** Puts the data back exactly as it was when `take` ran (the box is stopped). */
  restore(opts: { dataDir: string; id: string }): Promise<void>;
  /** Drops the snapshot once the upgrade is committed. */
  discard(opts: { dataDir: string; id: string }): Promise<void>;
}

/** The destination has no room left; nothing of the backup being written is listed. */
export class BackupDestinationFullError extends Error {
  readonly code = "BACKUP_DESTINATION_FULL";
  constructor(readonly destination: string) {
    super(`backup destination is full: ${destination}`);
    this.name = "BackupDestinationFullError";
  }
}

/** A part a manifest names is not at the destination. */
export class BackupPartMissingError extends Error {
  readonly code = "BACKUP_PART_MISSING";
  constructor(readonly key: string) {
    super(`backup part missing: ${key}`);
    this.name = "BackupPartMissingError";
  }
}
