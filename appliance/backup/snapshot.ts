/**
 * createBackup: one consistent snapshot of the box at a destination.
 * 1. Every service database copied under one write barrier (databases.ts), with config.json and secrets/,
 *    into a staging folder on the data disk (`<data>/backups/staging/<id>`).
 * 2. Each staged file encrypted and put as `snapshots/<id>/parts/<n>.age`.
 * 3. Every blob the copied files database references put as `blobs/<hmac>` unless already there.
 * 4. The manifest, last: until it exists, nothing of this backup is listed.
 * Blobs are immutable and referenced by the copied database, so they need no barrier: a blob the copy names
 * was complete before its row committed.
 */
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { loadApplianceConfig } from "../config/load.js";
import { eachLimit } from "../lib/each-limit.js";
import { applianceVersion } from "../paths.js";
import { filesUnder } from "./apply.js";
import { openBlobStore, referencedBlobs } from "./blobs.js";
import { BackupKeyError, blobObjectName, manifestSealer, type PartKeys, partKeysFor } from "./crypto.js";
import { warmCryptoPool } from "./crypto-pool.js";
import { IO_CHUNK } from "./fs-atomic.js";
import {
  type BlobEntry,
  buildManifest,
  listBackups,
  MANIFEST_FORMAT,
  manifestKey,
  openBackupManifest,
  type PartEntry,
  partKey,
} from "./manifest.js";
import { BackupPartDamagedError, putEncrypted } from "./parts-io.js";
import { progressReporter } from "./progress.js";
import { removeLeftovers, removeStaleStaging } from "./prune.js";
import type {
  BackupDestination,
  BackupEncryptionKey,
  BackupProgress,
  BackupReason,
  BackupSummary,
} from "./types.js";
import { snapshotId, stageDataDir } from "./upgrade-snapshot.js";

/** Objects put at once: enough to overlap their fsyncs and reads, few enough to bound memory. */
const PUT_CONCURRENCY = 4;
/** A backup this large starts the crypto threads at once (a small one may never need them). */
const WARM_POOL_BYTES = 8 * 1024 * 1024;

export interface CreateBackupOptions {
  dataDir: string;
  destination: BackupDestination;
  key: BackupEncryptionKey;
  includeSecrets?: boolean;
  reason?: BackupReason;
  onProgress?: (p: BackupProgress) => void;
  signal?: AbortSignal;
}

/**
 * The data identity of the last backup this process took per destination and passphrase (hashed), so the
 * next one (the scheduler's, in the supervisor) reuses it without a second scrypt to open that manifest. In
 * memory only, where the passphrase is anyway; used only while that backup is still the newest there.
 */
const lastIdentity = new Map<string, { id: string; dataIdentity: string }>();
const identityCacheKey = (dest: BackupDestination, passphrase: string) =>
  `${dest.description}\0${createHash("sha256").update(passphrase).digest("hex")}`;

/** The data identity of the newest backup this passphrase opens (its blobs are then shared), if any. */
async function previousDataIdentity(
  dest: BackupDestination,
  key: BackupEncryptionKey,
): Promise<string | undefined> {
  if (!("passphrase" in key)) return undefined;
  const newest = (await listBackups(dest))[0];
  if (!newest) return undefined;
  const cached = lastIdentity.get(identityCacheKey(dest, key.passphrase));
  if (cached?.id === newest.id) return cached.dataIdentity;
  try {
    return (await openBackupManifest(dest, newest.id, key)).sealed.dataIdentity;
  } catch (err) {
    if (err instanceof BackupKeyError) return undefined; // another passphrase: new identity, new blob names
    throw err;
  }
}

/** Takes a backup of `dataDir` to `destination`; see the header for the steps. */
export async function createBackup(opts: CreateBackupOptions): Promise<BackupSummary> {
  const { dataDir, destination: dest } = opts;
  const includeSecrets = opts.includeSecrets ?? true;
  const id = snapshotId();
  const staging = join(dataDir, "backups", "staging", id);
  const progress = progressReporter(opts.onProgress);
  const written: string[] = [];
  const checkAbort = () => {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error("backup aborted");
  };
  try {
    // Both scrypt runs of a passphrase backup (sealing this manifest, opening the newest one to reuse its
    // data identity) run on the thread pool while the databases are copied.
    const seal = manifestSealer(opts.key);
    const previous = (async () => {
      await removeLeftovers(dest, new Date());
      return previousDataIdentity(dest, opts.key);
    })();
    previous.catch(() => {});
    await removeStaleStaging(dataDir, new Date());
    checkAbort();
    progress.phase("databases");
    const { copies, blockedMs } = stageDataDir(dataDir, staging, { secrets: includeSecrets });
    const keys = await partKeysFor(opts.key, await previous);
    checkAbort();
    const files = filesUnder(staging);
    const blobs = referencedBlobs(join(staging, "services", "files", "files.db"));
    const fileBytes = files.reduce((n, f) => n + statSync(join(staging, f)).size, 0);
    const totalBytes = fileBytes + [...blobs.values()].reduce((a, b) => a + b, 0);
    progress.total(totalBytes);
    // Objects of a megabyte or more are sealed in the crypto threads: start them while the parts go.
    if (totalBytes >= WARM_POOL_BYTES) warmCryptoPool();

    const parts: PartEntry[] = [];
    await eachLimit(files, PUT_CONCURRENCY, async (path, n) => {
      checkAbort();
      progress.phase(path.startsWith("services/") ? "databases" : "config", path);
      const key = partKey(id, n);
      written.push(key);
      const src = createReadStream(join(staging, path), { highWaterMark: IO_CHUNK });
      parts[n] = { key, path, ...(await putEncrypted(dest, key, keys, src, progress.add)) };
    });
    const { entries, copied } = await putBlobs(dataDir, dest, keys, blobs, progress, checkAbort);

    const summary: BackupSummary = {
      id,
      createdAt: new Date().toISOString(),
      reason: opts.reason ?? "manual",
      applianceVersion: applianceVersion(),
      siteId: loadApplianceConfig({ dataDir }).site,
      sizeBytes: parts.reduce((n, p) => n + p.storedSize, 0) + entries.reduce((n, b) => n + b.size, 0),
      blobsCopied: copied,
      blobsReferenced: entries.length,
      secretsIncluded: includeSecrets,
    };
    const manifest = await buildManifest(seal, {
      format: MANIFEST_FORMAT,
      summary,
      dataIdentity: keys.dataIdentity,
      parts,
      blobs: entries,
      databases: copies.map((c) => ({ service: c.service, migrations: c.migrations })),
      writeBarrierMs: Math.round(blockedMs * 10) / 10,
    });
    checkAbort();
    await dest.put(manifestKey(id), manifest);
    if ("passphrase" in opts.key && keys.dataIdentity) {
      lastIdentity.set(identityCacheKey(dest, opts.key.passphrase), { id, dataIdentity: keys.dataIdentity });
    }
    progress.done();
    return summary;
  } catch (err) {
    // Nothing of a failed backup stays (blobs do: content-addressed, the next backup reuses them).
    for (const key of written) await dest.remove(key).catch(() => {});
    throw err;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Puts every referenced blob the destination lacks; returns the manifest entries and how many were copied. */
async function putBlobs(
  dataDir: string,
  dest: BackupDestination,
  keys: PartKeys,
  blobs: Map<string, number>,
  progress: ReturnType<typeof progressReporter>,
  checkAbort: () => void,
): Promise<{ entries: BlobEntry[]; copied: number }> {
  const entries: BlobEntry[] = [...blobs]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([sha256, size]) => ({ sha256, size, key: `blobs/${blobObjectName(keys, sha256)}` }));
  let copied = 0;
  if (entries.length === 0) return { entries, copied };
  const store = openBlobStore(dataDir);
  try {
    // A few at a time: a small blob costs two fsyncs, which overlap (and batch in the journal) when concurrent.
    await eachLimit(entries, PUT_CONCURRENCY, async ({ sha256, size, key }) => {
      checkAbort();
      if (await dest.has(key)) {
        progress.add(size);
        return;
      }
      progress.phase("blobs", sha256);
      // putEncrypted hashes what the store gives: a blob damaged on the box's disk is not backed up as fine.
      const o = await putEncrypted(dest, key, keys, await store.get(sha256), progress.add, false);
      if (o.sha256 !== sha256) {
        await dest.remove(key);
        throw new BackupPartDamagedError(
          `blob ${sha256} on this box`,
          "its content no longer matches its sha256",
        );
      }
      copied++;
    });
  } finally {
    await store.close();
  }
  return { entries, copied };
}
