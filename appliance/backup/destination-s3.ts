/**
 * Backups in an S3 bucket (AWS S3, MinIO, any S3-compatible server) through the `minio` client: every key
 * of the engine becomes `<prefix><key>`. An object is visible only once complete: a part smaller than one
 * chunk is a single PUT (atomic in S3), a larger one a multipart upload that is completed only after its last
 * chunk arrived, and aborted when the source fails. The engine writes a snapshot's manifest last, so a
 * backup killed mid-way has no manifest and is never listed. minio's own stream upload is not used: it
 * looks up unfinished uploads (ListMultipartUploads, which s3rver lacks) and ignores source errors.
 */
import type { Readable } from "node:stream";
import type { Client } from "minio";
import { minioClient } from "../../services/files/blob-store/s3.js";
import { type BackupDestination, BackupDestinationFullError, BackupPartMissingError } from "./types.js";

export interface S3DestinationOptions {
  endPoint: string;
  port?: number;
  useSSL: boolean;
  accessKey: string;
  secretKey: string;
  region: string;
  bucket: string;
  /** Prepended to every key; "" or ending in "/". */
  prefix: string;
  /** Bytes per multipart chunk (S3's minimum is 5 MiB); 16 MiB by default. */
  chunkBytes?: number;
}

const CHUNK = 16 * 1024 * 1024;
const FULL_CODES = new Set(["EntityTooLarge", "QuotaExceeded", "XMinioStorageFull", "InsufficientStorage"]);

const codeOf = (err: unknown) => (err as { code?: string } | null)?.code;
const missing = (err: unknown) => codeOf(err) === "NotFound" || codeOf(err) === "NoSuchKey";

/** An S3 bucket (created on first use when missing) as a backup destination. */
export function s3Destination(opts: S3DestinationOptions): BackupDestination & { close(): void } {
  const { client, agent } = minioClient(opts);
  const { bucket, prefix } = opts;
  const description = `s3://${bucket}/${prefix} at ${opts.endPoint}${opts.port ? `:${opts.port}` : ""}`;
  let ready: Promise<void> | null = null;
  const ensureBucket = () => {
    ready ??= (async () => {
      if (await client.bucketExists(bucket)) return;
      await client.makeBucket(bucket, opts.region).catch((err: unknown) => {
        if (codeOf(err) !== "BucketAlreadyOwnedByYou") throw err;
      });
    })().catch((err) => {
      ready = null;
      throw err;
    });
    return ready;
  };
  const full = (err: unknown) =>
    FULL_CODES.has(codeOf(err) ?? "") ? new BackupDestinationFullError(description) : err;

  return {
    kind: "s3",
    description,
    async put(key, body, _size) {
      await ensureBucket();
      try {
        if (Buffer.isBuffer(body)) await client.putObject(bucket, prefix + key, body, body.length);
        else await putStream(client, bucket, prefix + key, body, opts.chunkBytes ?? CHUNK);
      } catch (err) {
        throw full(err);
      }
    },
    async get(key) {
      await ensureBucket();
      try {
        return (await client.getObject(bucket, prefix + key)) as Readable;
      } catch (err) {
        if (missing(err)) throw new BackupPartMissingError(key);
        throw err;
      }
    },
    async has(key) {
      await ensureBucket();
      try {
        await client.statObject(bucket, prefix + key);
        return true;
      } catch (err) {
        if (missing(err)) return false;
        throw err;
      }
    },
    async list(under) {
      await ensureBucket();
      const keys: string[] = [];
      for await (const item of client.listObjectsV2(bucket, prefix + under, true) as AsyncIterable<{
        name?: string;
      }>) {
        if (item.name?.startsWith(prefix)) keys.push(item.name.slice(prefix.length));
      }
      return keys;
    },
    async remove(key) {
      await ensureBucket();
      await client.removeObject(bucket, prefix + key);
    },
    close: () => agent.destroy(),
  };
}

/** Uploads a stream: one PUT when it fits in a chunk, else a multipart upload completed at the end. */
async function putStream(client: Client, bucket: string, key: string, source: Readable, chunk: number) {
  let held: Buffer[] = [];
  let heldBytes = 0;
  let uploadId: string | undefined;
  const parts: { part: number; etag: string }[] = [];
  const sendPart = async () => {
    uploadId ??= await client.initiateNewMultipartUpload(bucket, key, {});
    const body = Buffer.concat(held, heldBytes);
    held = [];
    heldBytes = 0;
    const part = parts.length + 1;
    const headers = { "Content-Length": body.length };
    const { etag } = await client.uploadPart(
      { bucketName: bucket, objectName: key, uploadID: uploadId, partNumber: part, headers },
      body,
    );
    parts.push({ part, etag });
  };
  try {
    for await (const c of source) {
      const buf = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
      held.push(buf);
      heldBytes += buf.length;
      if (heldBytes >= chunk) await sendPart();
    }
    if (uploadId === undefined) {
      await client.putObject(bucket, key, Buffer.concat(held, heldBytes), heldBytes);
      return;
    }
    if (heldBytes > 0) await sendPart();
    await client.completeMultipartUpload(bucket, key, uploadId, parts);
  } catch (err) {
    source.destroy();
    // Best effort (s3rver lacks it): an unfinished multipart upload is never visible as an object.
    if (uploadId !== undefined) await client.abortMultipartUpload(bucket, key, uploadId).catch(() => {});
    throw err;
  }
}
