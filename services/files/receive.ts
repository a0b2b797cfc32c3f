/**
 * Receiving an upload body: straight from the socket into a staging file, in bounded batches, so memory stays
 * flat whatever the file size (backpressure: the next read waits for the write). The caller decides what a
 * dropped connection means: a plain PUT throws the staging file away, a resumable upload keeps what arrived.
 * Space: before each batch `guard` may refuse it (the disk reserve), and a write the disk cannot take (ENOSPC,
 * or a short write, which is how a full disk shows mid-buffer) is the 507 disk-full answer, never a 500.
 */
import type { Hash } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { asDiskFull, diskFull } from "./disk.js";

const BATCH_BYTES = 1024 * 1024;

export interface Received {
  /** Bytes written by this call. */
  written: number;
  /** False when the client went away before the body ended. */
  complete: boolean;
}

export interface ReceiveOptions {
  offset: number;
  max: number;
  hash?: Hash;
  tooMuch: () => Error;
  /** Throws (the 507) when a batch of `bytes` may not be written: the disk reserve. */
  guard?: (bytes: number) => void;
}

/** True for the errors a request stream raises when its client disconnects. */
export function isClientAbort(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === "ECONNRESET" || e.code === "ERR_STREAM_PREMATURE_CLOSE" || e.message === "aborted";
}

/**
 * Streams `source` into `file` from `offset` (truncating anything after it first), feeding `hash` when given.
 * Calls `tooMuch` and throws what it returns when more than `max` bytes arrive, and `guard` with each batch's
 * size before writing it. The bytes written are on disk (fsync) when this resolves. A full disk throws the 507
 * disk-full ApiError, other write errors are rethrown; the file is left for the caller either way.
 */
export async function receive(source: Readable, file: string, opts: ReceiveOptions): Promise<Received> {
  try {
    return await receiveInto(source, file, opts);
  } catch (err) {
    throw asDiskFull(err);
  }
}

async function receiveInto(source: Readable, file: string, opts: ReceiveOptions): Promise<Received> {
  const fh = await open(file, opts.offset === 0 ? "w" : "r+", 0o600);
  let written = 0;
  let complete = false;
  try {
    if (opts.offset > 0) await fh.truncate(opts.offset);
    let batch: Buffer[] = [];
    let batched = 0;
    const flush = async () => {
      if (batched === 0) return;
      const buffers = batch;
      const size = batched;
      batch = [];
      batched = 0;
      opts.guard?.(size);
      await writeAll(fh, buffers, size, opts.offset + written);
      written += size;
    };
    try {
      // Not destroyed on an early stop: the refusal (413, 507) must reach the client before the connection
      // closes, and destroying a socket with unread data would reset it and lose the answer.
      for await (const chunk of source.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        if (written + batched + chunk.length > opts.max) throw opts.tooMuch();
        opts.hash?.update(chunk);
        batch.push(chunk);
        batched += chunk.length;
        if (batched >= BATCH_BYTES) await flush();
      }
      complete = true;
    } catch (err) {
      if (!isClientAbort(err)) throw err;
    }
    await flush();
    await fh.sync();
    return { written, complete };
  } finally {
    await fh.close();
  }
}

/**
 * Writes `buffers` (`size` bytes) at `position`, continuing after short writes: on a filling disk writev may
 * take only part of the buffers without an error. A write that takes nothing is a full disk.
 */
async function writeAll(fh: FileHandle, buffers: Buffer[], size: number, position: number): Promise<void> {
  const first = await fh.writev(buffers, position);
  if (first.bytesWritten === size) return;
  const rest = Buffer.concat(buffers, size);
  for (let done = first.bytesWritten; done < size; ) {
    const { bytesWritten } = await fh.write(rest, done, size - done, position + done);
    if (bytesWritten === 0) throw diskFull();
    done += bytesWritten;
  }
}
