/**
 * The files service's runtime: its blob store, staging folder and the bookkeeping that keeps blob garbage
 * collection safe. One per service context. Committing content holds its sha256 so a concurrent purge cannot
 * delete the blob between "already stored" and "version recorded"; a purge in flight is awaited first.
 */
import type { Hash } from "node:crypto";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { DiskReserve, ServiceContext } from "../../appliance/kit/index.js";
import type { BlobStore } from "../../appliance/lib/blob-store.js";
import type { Counter } from "../../appliance/lib/metrics/index.js";
import { createBlobStore } from "./blob-store/index.js";
import { blobStoreConfig, type FilesConfig } from "./config.js";
import { diskGuard, requireDiskRoom } from "./disk.js";
import { type NewContent, unreferenced, type Written, writeVersion } from "./versions.js";

export type Ctx = ServiceContext<FilesConfig>;

export interface Files {
  config: FilesConfig;
  /** The box's disk reserve: uploads stop short of it. */
  reserve: DiskReserve;
  store: BlobStore;
  stagingDir: string;
  /** sha256 → commits in flight that use it. */
  held: Map<string, number>;
  /** sha256 → its deletion in flight. */
  deleting: Map<string, Promise<void>>;
  /** Resumable upload id → the running hash of its first `offset` bytes (lost on restart: rehash then). */
  hashes: Map<string, { hash: Hash; offset: number }>;
  /** Resumable uploads with a PATCH in progress. */
  busy: Set<string>;
  /** Body bytes received (stored in staging) and sent (downloads), for /metrics. */
  bytes: { uploaded: Counter; downloaded: Counter };
}

const runtimes = new WeakMap<object, Files>();

/** The runtime of `ctx`, created on first use. */
export function filesOf(ctx: Ctx): Files {
  let f = runtimes.get(ctx);
  if (!f) {
    // ctx.dataDir is the service's own folder (<data>/services/files), next to its database.
    const home = ctx.dataDir;
    const blobs = { ...blobStoreConfig(ctx.config), root: ctx.config.blobRoot ?? join(home, "blobs") };
    f = {
      config: ctx.config,
      reserve: ctx.disk,
      store: createBlobStore(blobs, ctx.dataDir),
      stagingDir: join(home, "staging"),
      held: new Map(),
      deleting: new Map(),
      hashes: new Map(),
      busy: new Set(),
      bytes: {
        uploaded: ctx.metrics.counter("nexus_files_upload_bytes_total", "Upload body bytes received."),
        downloaded: ctx.metrics.counter("nexus_files_download_bytes_total", "Download body bytes sent."),
      },
    };
    runtimes.set(ctx, f);
  }
  return f;
}

/** Creates folders and the bucket, and drops staging files no open upload owns (left by a crash). */
export async function startFiles(ctx: Ctx): Promise<Files> {
  const f = filesOf(ctx);
  mkdirSync(f.stagingDir, { recursive: true, mode: 0o700 });
  await f.store.init();
  const open = new Set((ctx.db.prepare("SELECT id FROM uploads").all() as { id: string }[]).map((r) => r.id));
  for (const name of readdirSync(f.stagingDir)) {
    if (!open.has(name)) rmSync(join(f.stagingDir, name), { force: true });
  }
  return f;
}

export const stagingFile = (f: Files, id: string) => join(f.stagingDir, id);

/** Size of a staging file (0 when absent). */
export function stagedSize(f: Files, id: string): number {
  try {
    return statSync(stagingFile(f, id)).size;
  } catch {
    return 0;
  }
}

/** 507 (disk-full) unless `bytes` more fit in the staging folder above the box's disk reserve. */
export function requireDisk(f: Files, bytes: number): void {
  requireDiskRoom(f.stagingDir, f.reserve, bytes);
}

/** The check a streaming receive makes before each batch it writes (see receive.ts). */
export const stagingGuard = (f: Files) => diskGuard(f.stagingDir, f.reserve);

function hold(f: Files, sha: string) {
  f.held.set(sha, (f.held.get(sha) ?? 0) + 1);
}

function unhold(f: Files, sha: string) {
  const n = (f.held.get(sha) ?? 1) - 1;
  if (n <= 0) f.held.delete(sha);
  else f.held.set(sha, n);
}

/**
 * Moves a verified staging file into the blob store and records it as the file's next version. The staging
 * file is consumed whatever happens; on failure the blob is dropped again unless something references it.
 */
export async function commitStaged(
  ctx: Ctx,
  f: Files,
  staged: { file: string; sha256: string; size: number },
  content: Omit<NewContent, "sha256" | "size">,
  inTx?: () => void,
  onWritten?: Parameters<typeof writeVersion>[4],
): Promise<Written> {
  const sha = staged.sha256;
  hold(f, sha);
  let written: Written;
  try {
    await f.deleting.get(sha);
    await f.store.put(sha, { file: staged.file }, staged.size);
    written = writeVersion(
      ctx,
      { ...content, sha256: sha, size: staged.size },
      f.config.keepVersions,
      inTx,
      onWritten,
    );
  } catch (err) {
    unhold(f, sha);
    await rm(staged.file, { force: true });
    await releaseBlobs(ctx, f, [sha]).catch(() => undefined);
    throw err;
  }
  unhold(f, sha);
  void releaseBlobs(ctx, f, written.released).catch((err) => ctx.log.warn({ err }, "blob cleanup failed"));
  return written;
}

/**
 * Deletes the blobs among `shas` that no version references and no commit holds. Each blob is checked just
 * before its own delete: while earlier deletes were awaited, an upload of the same bytes may have recorded it.
 */
export async function releaseBlobs(ctx: Ctx, f: Files, shas: readonly string[]): Promise<void> {
  for (const sha of new Set(shas)) {
    if (f.held.has(sha) || f.deleting.has(sha) || unreferenced(ctx, [sha]).length === 0) continue;
    const p = f.store.delete(sha).finally(() => f.deleting.delete(sha));
    f.deleting.set(sha, p);
    await p;
  }
}
