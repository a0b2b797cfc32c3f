/**
 * restoreBackup: onto the same box or a fresh data dir (new hardware, same site id).
 * 1. Open the manifest (wrong key → clear error).
 * 2. Download and decrypt every part into `<data>/backups/staging/restore-<id>`, each checked against the
 *    manifest: a damaged part stops the restore here, before anything of the box changed. Meanwhile, refuse
 *    a backup from a newer schema (also before anything changed).
 * 3. Put the blobs the box lacks into its blob store (content-addressed: extra blobs harm nothing, and every
 *    row restored next finds its blob).
 * 4. Swap the staged databases, config.json and secrets/ in (apply.ts: a kill -9 leaves the old data or a
 *    "restore incomplete, run it again" marker). The box must be stopped (its pid file).
 * The dry run does 1–2 and lists what 3–4 would change.
 */
import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { PassThrough } from "node:stream";
import type { Identity } from "age-encryption";
import { eachLimit } from "../lib/each-limit.js";
import { SERVICE_NAME } from "../lib/names.js";
import { applyStaged, assertStopped, type Change, planChanges } from "./apply.js";
import { openBlobStore } from "./blobs.js";
import { partIdentity } from "./crypto.js";
import { IO_CHUNK } from "./fs-atomic.js";
import { openBackupManifest, type SealedManifest } from "./manifest.js";
import { BackupPartDamagedError, getDecrypted } from "./parts-io.js";
import { progressReporter } from "./progress.js";
import { assertSchemaKnown } from "./schema.js";
import { type SyncEpoch, startSyncEpochs } from "./sync-epoch.js";
import type { BackupDecryptionKey, BackupDestination, BackupProgress } from "./types.js";

/** Objects fetched at once (their fsyncs overlap). */
const GET_CONCURRENCY = 4;

const SECRET_PATH = /^secrets\/[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

/** Only the files a backup may hold, never a path that leaves the data dir (the manifest is checked anyway). */
function assertRestorablePath(path: string): void {
  const db = /^services\/([^/]+)\/([^/]+)\.db$/.exec(path);
  const ok =
    path === "config.json" ||
    (db && db[1] === db[2] && SERVICE_NAME.test(db[1]!)) ||
    (SECRET_PATH.test(path) && !path.split("/").includes(".."));
  if (!ok) throw new BackupPartDamagedError(path, "not a path a backup may restore");
}

export interface RestoreOptions {
  dataDir: string;
  destination: BackupDestination;
  id: string;
  key: BackupDecryptionKey;
  dryRun?: boolean;
  onProgress?: (p: BackupProgress) => void;
  /** The migrations this code knows per service (default: the registered services'; tests add fixtures). */
  knownMigrations?: Parameters<typeof assertSchemaKnown>[1];
  /** Asks the hub for the site's sync watermarks (default: over HTTP with the hub link; see sync-epoch.ts). */
  hubSyncPosition?: Parameters<typeof startSyncEpochs>[3];
}

/** Restores backup `id` onto `dataDir` (see the header). */
export async function restoreBackup(opts: RestoreOptions): Promise<{
  changes: { path: string; action: "create" | "replace" | "delete" }[];
  applied: boolean;
  syncEpochs?: SyncEpoch[];
}> {
  const { dataDir, destination: dest, id } = opts;
  const { sealed } = await openBackupManifest(dest, id, opts.key);
  // Loading this code's migrations (the service modules) runs while the parts are staged; nothing of the
  // box changes before it passed.
  const schemaKnown = assertSchemaKnown(sealed.databases, opts.knownMigrations);
  schemaKnown.catch(() => {});
  if (!opts.dryRun) assertStopped(dataDir);
  const identity = partIdentity(opts.key, sealed.dataIdentity);
  const progress = progressReporter(opts.onProgress);
  progress.total(sealed.parts.reduce((n, p) => n + p.size, 0) + sealed.blobs.reduce((n, b) => n + b.size, 0));
  const staging = join(dataDir, "backups", "staging", `restore-${id}`);
  await rm(staging, { recursive: true, force: true });
  try {
    progress.phase("restore");
    for (const part of sealed.parts) assertRestorablePath(part.path);
    await eachLimit(sealed.parts, GET_CONCURRENCY, async (part) => {
      const file = join(staging, part.path);
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      progress.phase("restore", part.path);
      const sink = createWriteStream(file, { mode: 0o600, highWaterMark: IO_CHUNK });
      await getDecrypted(dest, part.key, identity, part, sink, progress.add);
    });
    await schemaKnown;
    const blobChanges = await restoreBlobs(opts, sealed, identity, staging, progress);
    const secrets = sealed.summary.secretsIncluded;
    if (opts.dryRun) {
      const changes = await planChanges(dataDir, staging, { secrets });
      progress.done();
      return { changes: [...changes, ...blobChanges], applied: false };
    }
    const services = sealed.databases.map((d) => d.service);
    const syncEpochs = await startSyncEpochs(dataDir, staging, services, opts.hubSyncPosition);
    const changes: Change[] = await applyStaged(dataDir, staging, {
      secrets,
      label: `backup ${id}`,
      move: true,
    });
    progress.done();
    return { changes: [...changes, ...blobChanges], applied: true, syncEpochs };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Puts the blobs the box's store lacks (dry run: lists them). The store is the one the restored config names. */
async function restoreBlobs(
  opts: RestoreOptions,
  sealed: SealedManifest,
  identity: string | Identity,
  staging: string,
  progress: ReturnType<typeof progressReporter>,
): Promise<Change[]> {
  if (sealed.blobs.length === 0) return [];
  if (!opts.dryRun) assertStopped(opts.dataDir);
  const store = openBlobStore(opts.dataDir, process.env, staging);
  const changes: Change[] = [];
  try {
    if (!opts.dryRun) await store.init();
    const missing: SealedManifest["blobs"] = [];
    for (const b of sealed.blobs) {
      if (await store.stat(b.sha256).catch(() => null)) progress.add(b.size);
      else missing.push(b);
    }
    for (const b of missing) changes.push({ path: `blobs/${b.sha256}`, action: "create" });
    if (opts.dryRun) return changes;
    await eachLimit(missing, GET_CONCURRENCY, async (b) => {
      progress.phase("restore", `blob ${b.sha256}`);
      const pass = new PassThrough();
      const stored = store.put(b.sha256, pass, b.size);
      stored.catch(() => {});
      // The store hashes what it takes and refuses content that is not b.sha256 / b.size: no second hash here.
      await getDecrypted(opts.destination, b.key, identity, b, pass, progress.add, true);
      await stored.catch((err: Error) => {
        throw new BackupPartDamagedError(b.key, `content does not match the manifest (${err.message})`);
      });
    });
  } finally {
    await store.close();
  }
  return changes;
}
