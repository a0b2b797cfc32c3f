/**
 * Local filesystem blob store, the embedded default. Blobs live at <root>/ab/cd/<sha256>; a put writes a temp
 * file in <root>/.tmp (same filesystem, so the final rename is atomic), hashing while it writes, fsyncs it,
 * verifies it, renames it into place and fsyncs the directory. A blob path therefore only ever names complete,
 * verified, durable content. On any failure (ENOSPC included) the temp file is removed and the original error,
 * with its code, is rethrown. Files are 0600, directories 0700.
 */
import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, lstat, mkdir, open, opendir, readdir, rename, rm, unlink, utimes } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import {
  assertRange,
  assertSha256,
  assertSize,
  BlobNotFoundError,
  type BlobStat,
  type BlobStore,
  type FileSource,
  isFileSource,
  isSha256,
} from "../../../appliance/lib/blob-store.js";
import { ContentHash, drainVerified, toBuffer } from "./verify.js";

/** Temp files older than this are left over from a crash (no put runs that long without writing). */
const STALE_TEMP_MS = 60 * 60 * 1000;
const HEX2 = /^[0-9a-f]{2}$/;

export class LocalBlobStore implements BlobStore {
  readonly kind = "local";
  private readonly tmpDir: string;

  constructor(readonly root: string) {
    this.tmpDir = join(root, ".tmp");
  }

  /**
   * Creates the root and temp directory, and removes temp files a crash left behind: at once when the process
   * that wrote one is gone (its name starts with that pid), otherwise once it is over an hour old (a pid that
   * was reused, or a name from before temp files carried one).
   */
  async init(): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    const cutoff = Date.now() - STALE_TEMP_MS;
    for (const name of await readdir(this.tmpDir)) {
      const file = join(this.tmpDir, name);
      const st = await lstat(file).catch(() => null);
      if (st && (ownerGone(name) || st.mtimeMs < cutoff)) await rm(file, { force: true, recursive: true });
    }
  }

  async stat(sha256: string): Promise<BlobStat | null> {
    assertSha256(sha256);
    const st = await lstat(this.path(sha256)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return null;
      throw err;
    });
    return st?.isFile() ? { sha256, size: st.size } : null;
  }

  async put(sha256: string, source: NodeJS.ReadableStream | FileSource, size?: number): Promise<BlobStat> {
    assertSha256(sha256);
    assertSize(size);
    if (isFileSource(source)) return this.adopt(sha256, source.file, size);
    if (await this.stat(sha256)) return drainVerified(source, sha256, size);
    return this.writeTemp(sha256, size, (tmp) => copyInto(tmp, source));
  }

  async get(sha256: string, range?: { start: number; end: number }): Promise<NodeJS.ReadableStream> {
    assertSha256(sha256);
    // Open first: a missing blob is a BlobNotFoundError now, and a concurrent delete cannot cut the read short.
    const handle = await open(this.path(sha256), "r").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") throw new BlobNotFoundError(sha256);
      throw err;
    });
    try {
      if (!range) return handle.createReadStream();
      assertRange(range, (await handle.stat()).size);
      return handle.createReadStream({ start: range.start, end: range.end });
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async delete(sha256: string): Promise<void> {
    assertSha256(sha256);
    // No directory fsync: a delete undone by a crash only leaves garbage that the next collection removes.
    await unlink(this.path(sha256)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }

  async *list(): AsyncIterable<BlobStat> {
    for await (const a of await opendir(this.root)) {
      if (!a.isDirectory() || !HEX2.test(a.name)) continue;
      for await (const b of await opendir(join(this.root, a.name))) {
        if (!b.isDirectory() || !HEX2.test(b.name)) continue;
        for await (const f of await opendir(join(this.root, a.name, b.name))) {
          if (!f.isFile() || !isSha256(f.name)) continue;
          const st = await this.stat(f.name); // may have been deleted since the directory was read
          if (st) yield st;
        }
      }
    }
  }

  async close(): Promise<void> {}

  private path(sha256: string): string {
    return join(this.root, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  /** Takes over a local file: moved into the temp dir (or copied there from another filesystem), then
   *  verified and renamed into place like any put. The source is gone afterwards, whatever the outcome. */
  private async adopt(sha256: string, file: string, size?: number): Promise<BlobStat> {
    try {
      const existing = await this.stat(sha256);
      if (existing) return existing;
      return await this.writeTemp(sha256, size, async (tmp) => {
        try {
          await rename(file, tmp);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
          return copyInto(tmp, createReadStream(file));
        }
        // A fresh mtime keeps init() from taking it for a crash leftover; the mode is the store's, not the caller's.
        const now = new Date();
        await utimes(tmp, now, now);
        await chmod(tmp, 0o600);
        const content = new ContentHash();
        for await (const chunk of createReadStream(tmp)) content.update(chunk as Buffer);
        await fsyncPath(tmp);
        return content;
      });
    } finally {
      await rm(file, { force: true }).catch(() => {});
    }
  }

  /** Runs `fill` on a fresh temp path, verifies what it wrote, and moves it into place; removes the temp file
   *  on any error and rethrows that error as it is. */
  private async writeTemp(
    sha256: string,
    size: number | undefined,
    fill: (tmp: string) => Promise<ContentHash>,
  ): Promise<BlobStat> {
    const tmp = join(this.tmpDir, `${process.pid}-${randomUUID()}`);
    try {
      const stat = (await fill(tmp)).verify(sha256, size);
      const dest = this.path(sha256);
      const created = await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
      await rename(tmp, dest);
      await fsyncPath(dirname(dest));
      if (created) {
        await fsyncPath(dirname(dirname(dest)));
        await fsyncPath(this.root);
      }
      return stat;
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {}); // the original error is the one that matters
      throw err;
    }
  }
}

/** Writes a stream to a new temp file, hashing as it goes, and fsyncs it. pipeline gives backpressure (one
 *  chunk in memory at a time, whatever the size) and destroys the source if writing fails. */
async function copyInto(tmp: string, source: NodeJS.ReadableStream): Promise<ContentHash> {
  const handle = await open(tmp, "wx", 0o600);
  try {
    const content = new ContentHash();
    await pipeline(source, async (chunks: AsyncIterable<unknown>) => {
      for await (const chunk of chunks) {
        const buf = toBuffer(chunk);
        content.update(buf);
        for (let off = 0; off < buf.length; ) off += (await handle.write(buf, off)).bytesWritten;
      }
    });
    await handle.sync();
    return content;
  } finally {
    await handle.close();
  }
}

const TEMP_OWNER = /^(\d+)-/;

/** True when a temp file's name carries the pid of a process that no longer exists (not this one). */
function ownerGone(name: string): boolean {
  const pid = Number(TEMP_OWNER.exec(name)?.[1]);
  if (!pid || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH"; // EPERM: alive, someone else's
  }
}

/** Makes a file's content, or a directory's entries (a rename into it, a new subdirectory), durable. */
async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
