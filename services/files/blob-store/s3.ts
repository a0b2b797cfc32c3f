/**
 * S3 blob store through the `minio` client: MinIO, AWS S3 or any S3-compatible server. Objects are
 * `<prefix>blobs/<sha256>` in one bucket, which init() creates when missing (call it first: a HEAD cannot tell
 * a missing bucket from a missing key, so stat() before init() just says null).
 *
 * put() runs the multipart upload itself (minio's low-level calls) instead of minio's putObject stream
 * upload, so that content is verified before it becomes visible: parts are uploaded while the stream is
 * hashed, and the upload is completed only once the hash matches; a mismatch or a failing source aborts it.
 * Content smaller than one part is buffered, verified, then sent in a single PUT. Either way a mismatching or
 * partial put is never visible under its key, not even briefly. minio's own stream upload (putObject) would not
 * do: it does not listen for the source's errors (a failing source hangs the upload, or crashes the process),
 * it resumes any unfinished upload of the same key (which concurrent puts of one blob would then share), and
 * it needs ListMultipartUploads, which s3rver lacks. Parts abandoned by a crash are invisible; a bucket lifecycle rule
 * that aborts incomplete multipart uploads after a day reclaims their space.
 *
 * Memory: one part (16 MiB, more for known sizes over 156 GiB) is held at a time.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { createRequire } from "node:module";
import { Readable } from "node:stream";
import type { Client } from "minio";
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

export interface S3BlobStoreOptions {
  endPoint: string;
  port?: number;
  useSSL: boolean;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
  /** Prepended to every key, e.g. "nexus/" to share a bucket. */
  prefix: string;
}

const MIN_PART = 16 * 1024 * 1024;

/** A minio client on its own keep-alive agent (destroy the agent to close it); also used by backups' S3 destination. */
export function minioClient(
  opts: Pick<S3BlobStoreOptions, "endPoint" | "port" | "useSSL" | "accessKey" | "secretKey" | "region">,
) {
  const agent = opts.useSSL ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  // Loaded on first use: minio costs ~38 MB of RSS, which every process importing this file (the supervisor,
  // through backups' S3 destination) paid even on boxes that never talk to S3. minio ships CommonJS too.
  const { Client: MinioClient } = createRequire(import.meta.url)("minio") as typeof import("minio");
  const client = new MinioClient({
    endPoint: opts.endPoint,
    port: opts.port,
    useSSL: opts.useSSL,
    accessKey: opts.accessKey,
    secretKey: opts.secretKey,
    region: opts.region,
    transportAgent: agent,
  });
  return { client, agent };
}
const MAX_PARTS = 10_000;

export class S3BlobStore implements BlobStore {
  readonly kind = "s3";
  private readonly client: Client;
  private readonly agent: http.Agent;
  private readonly keyPrefix: string;

  constructor(private readonly opts: S3BlobStoreOptions) {
    ({ client: this.client, agent: this.agent } = minioClient(opts));
    this.keyPrefix = `${opts.prefix}blobs/`;
  }

  /** Creates the bucket when it does not exist. */
  async init(): Promise<void> {
    if (await this.client.bucketExists(this.opts.bucket)) return;
    await this.client.makeBucket(this.opts.bucket, this.opts.region).catch((err: unknown) => {
      if (errorCode(err) !== "BucketAlreadyOwnedByYou") throw err;
    });
  }

  async stat(sha256: string): Promise<BlobStat | null> {
    assertSha256(sha256);
    try {
      const st = await this.client.statObject(this.opts.bucket, this.key(sha256));
      return { sha256, size: st.size };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async put(sha256: string, source: NodeJS.ReadableStream | FileSource, size?: number): Promise<BlobStat> {
    assertSha256(sha256);
    assertSize(size);
    if (isFileSource(source)) {
      try {
        return (await this.stat(sha256)) ?? (await this.upload(sha256, createReadStream(source.file), size));
      } finally {
        await rm(source.file, { force: true }).catch(() => {});
      }
    }
    // Already stored: still read the stream to its end, and answer with what was read (s3rver, unlike S3, shows
    // an object while it is being written, so its stat may be of a concurrent put in progress).
    if (await this.stat(sha256)) return drainVerified(source, sha256, size);
    return this.upload(sha256, source, size);
  }

  async get(sha256: string, range?: { start: number; end: number }): Promise<NodeJS.ReadableStream> {
    assertSha256(sha256);
    try {
      if (!range) return await this.client.getObject(this.opts.bucket, this.key(sha256));
      const st = await this.stat(sha256);
      if (!st) throw new BlobNotFoundError(sha256);
      assertRange(range, st.size);
      const length = range.end - range.start + 1;
      const body = await this.client.getPartialObject(
        this.opts.bucket,
        this.key(sha256),
        range.start,
        length,
      );
      return exactly(body, length);
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError(sha256);
      throw err;
    }
  }

  async delete(sha256: string): Promise<void> {
    assertSha256(sha256);
    // S3 answers 204 for an absent key too.
    await this.client.removeObject(this.opts.bucket, this.key(sha256));
  }

  async *list(): AsyncIterable<BlobStat> {
    const items = this.client.listObjectsV2(this.opts.bucket, this.keyPrefix, true);
    for await (const item of items as AsyncIterable<{ name?: string; size: number }>) {
      const sha256 = item.name?.slice(this.keyPrefix.length);
      if (isSha256(sha256)) yield { sha256, size: item.size };
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  private key(sha256: string): string {
    return `${this.keyPrefix}${sha256}`;
  }

  /** Streams `source` up in parts while hashing it; completes the upload only if the content is `sha256`. */
  private async upload(sha256: string, source: NodeJS.ReadableStream, size?: number): Promise<BlobStat> {
    const { bucket } = this.opts;
    const key = this.key(sha256);
    const partSize = Math.max(MIN_PART, Math.ceil((size ?? 0) / MAX_PARTS));
    const content = new ContentHash();
    const parts: { part: number; etag: string }[] = [];
    let pending: Buffer[] = [];
    let pendingSize = 0;
    let uploadId: string | undefined;
    const flush = async () => {
      if (parts.length >= MAX_PARTS)
        throw new RangeError(`blob is larger than ${MAX_PARTS} parts of ${partSize} bytes`);
      uploadId ??= await this.client.initiateNewMultipartUpload(bucket, key, {});
      const body = Buffer.concat(pending, pendingSize);
      pending = [];
      pendingSize = 0;
      const md5 = createHash("md5").update(body).digest("base64");
      const headers = { "Content-Length": body.length, "Content-MD5": md5 };
      const uploaded = await this.client.uploadPart(
        { bucketName: bucket, objectName: key, uploadID: uploadId, partNumber: parts.length + 1, headers },
        body,
      );
      parts.push({ part: parts.length + 1, etag: uploaded.etag });
    };
    try {
      for await (const chunk of source) {
        const buf = toBuffer(chunk);
        content.update(buf);
        pending.push(buf);
        pendingSize += buf.length;
        if (pendingSize >= partSize) await flush();
      }
      const stat = content.verify(sha256, size);
      if (uploadId === undefined) {
        await this.client.putObject(bucket, key, Buffer.concat(pending, pendingSize), pendingSize);
      } else {
        if (pendingSize > 0) await flush();
        await this.client.completeMultipartUpload(bucket, key, uploadId, parts);
      }
      return stat;
    } catch (err) {
      if (uploadId !== undefined) {
        // Best effort (s3rver does not implement it): an unfinished upload is never visible as an object.
        await this.client.abortMultipartUpload(bucket, key, uploadId).catch(() => {});
      }
      throw err;
    }
  }
}

function errorCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

function isNotFound(err: unknown): boolean {
  const code = errorCode(err);
  return code === "NotFound" || code === "NoSuchKey";
}

/** Passes exactly `length` bytes: servers differ on ranges (s3rver answers `bytes=0-0` with the whole object),
 *  and a short body must fail rather than look like a complete range. */
function exactly(body: NodeJS.ReadableStream, length: number): NodeJS.ReadableStream {
  async function* take() {
    let left = length;
    for await (const chunk of body) {
      const buf = toBuffer(chunk);
      yield buf.length <= left ? buf : buf.subarray(0, left);
      left -= Math.min(left, buf.length);
      if (left === 0) return; // leaving the loop destroys the body
    }
    if (left > 0) throw new Error(`object body ended ${left} bytes short of the requested range`);
  }
  return Readable.from(take(), { objectMode: false });
}
