/**
 * Durable file steps shared by the folder destination, the upgrade snapshots and restore: a file is written
 * under a temporary name, fsynced, renamed into place and its directory fsynced, so a reader (or the next
 * boot after a kill -9 or power cut) sees either nothing or the whole file.
 */
import { createWriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

/**
 * The read and write size of the backup's data path: large enough that syscalls and stream chunks are few,
 * small enough that sealing or opening one (ChaCha20-Poly1305 and sha256 run synchronously on the event
 * loop) blocks it for about a millisecond, not several.
 */
export const IO_CHUNK = 256 * 1024;

/** fsyncs a file's content, or a directory so the renames and unlinks inside it survive a power cut. */
export async function fsyncPath(path: string, flags: "r" | "r+" = "r"): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * fsyncs a directory. Concurrent callers share the runs: a call joins the run queued behind the one in
 * flight (which starts after the call, so it covers the caller's rename) instead of adding its own, and
 * four puts into one folder cost one or two directory fsyncs, not four.
 */
export function fsyncDir(dir: string): Promise<void> {
  const queued = dirSyncs.get(dir);
  if (queued?.next) return queued.next;
  const state = queued ?? { running: null, next: null };
  dirSyncs.set(dir, state);
  const next: Promise<void> = (state.running ?? Promise.resolve())
    .catch(() => {})
    .then(() => {
      state.next = null;
      state.running = next;
      return fsyncPath(dir);
    })
    .finally(() => {
      if (state.running === next) state.running = null;
      if (!state.running && !state.next) dirSyncs.delete(dir);
    });
  state.next = next;
  return next;
}

const dirSyncs = new Map<string, { running: Promise<void> | null; next: Promise<void> | null }>();

/** Streams `body` into `tmp`, fsyncs it and renames it to `file`; removes `tmp` on any failure. */
export async function writeAtomic(
  file: string,
  tmp: string,
  body: NodeJS.ReadableStream | Buffer,
): Promise<void> {
  try {
    const src = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    // A large buffer: the writes of a fast source are gathered (writev) instead of one syscall per chunk.
    // `flush`: fsync on the same descriptor before it closes (not a second open, fsync and close per file).
    await pipeline(src, createWriteStream(tmp, { mode: 0o600, highWaterMark: IO_CHUNK, flush: true }));
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(file));
}

/** Renames `from` to `to` and fsyncs the directory (or directories) involved. */
export async function renameDurably(from: string, to: string): Promise<void> {
  await rename(from, to);
  await fsyncDir(dirname(to));
  if (dirname(from) !== dirname(to)) await fsyncDir(dirname(from));
}
