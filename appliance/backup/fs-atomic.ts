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

/** fsyncs a file's content, or a directory so the renames and unlinks inside it survive a power cut. */
export async function fsyncPath(path: string, flags: "r" | "r+" = "r"): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export const fsyncDir = (dir: string) => fsyncPath(dir);

/** Streams `body` into `tmp`, fsyncs it and renames it to `file`; removes `tmp` on any failure. */
export async function writeAtomic(
  file: string,
  tmp: string,
  body: NodeJS.ReadableStream | Buffer,
): Promise<void> {
  try {
    const src = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    await pipeline(src, createWriteStream(tmp, { mode: 0o600 }));
    await fsyncPath(tmp, "r+");
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
