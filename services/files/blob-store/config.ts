/** Blob-store configuration (part of the files service's config) and the factory that picks the backend. */
import { join } from "node:path";
import { z } from "zod";
import type { BlobStore } from "../../../appliance/lib/blob-store.js";
import { LocalBlobStore } from "./local.js";
import { S3BlobStore } from "./s3.js";

const S3_REQUIRED = ["endPoint", "accessKey", "secretKey", "bucket"] as const;

const s3Schema = z.object({
  /** Host name or IP of the S3 server, without scheme (e.g. "minio.lan", "s3.eu-west-1.amazonaws.com"). */
  endPoint: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  useSSL: z.boolean().default(true),
  accessKey: z.string().min(1).optional(),
  secretKey: z.string().min(1).optional(),
  bucket: z.string().min(3).max(63).optional(),
  region: z.string().min(1).default("us-east-1"),
  /** Prepended to every object key, e.g. "nexus/" to share a bucket with other data. */
  prefix: z.string().default(""),
});

export const blobStoreConfigSchema = z
  .object({
    backend: z.enum(["local", "s3"]).default("local"),
    /** Local backend: where blobs live. Default: <dataDir>/files/blobs. */
    root: z.string().min(1).optional(),
    /** S3 backend: required when `backend` is "s3", ignored otherwise. */
    s3: s3Schema.optional(),
  })
  .superRefine((config, ctx) => {
    const missing = missingS3Fields(config);
    if (missing.length > 0) {
      ctx.addIssue({ code: "custom", path: ["s3"], message: s3Message(missing) });
    }
  });

export type BlobStoreConfig = z.infer<typeof blobStoreConfigSchema>;

/** Builds the configured backend (not yet initialised: call init()). */
export function createBlobStore(config: BlobStoreConfig, dataDir: string): BlobStore {
  if (config.backend === "local") return new LocalBlobStore(config.root ?? join(dataDir, "files", "blobs"));
  const s3 = config.s3;
  const missing = missingS3Fields(config);
  if (!s3?.endPoint || !s3.accessKey || !s3.secretKey || !s3.bucket) throw new Error(s3Message(missing));
  return new S3BlobStore({
    endPoint: s3.endPoint,
    port: s3.port,
    useSSL: s3.useSSL,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    bucket: s3.bucket,
    region: s3.region,
    prefix: s3.prefix,
  });
}

function missingS3Fields(config: { backend: string; s3?: Partial<Record<string, unknown>> }): string[] {
  if (config.backend !== "s3") return [];
  return S3_REQUIRED.filter((k) => !config.s3?.[k]).map((k) => `s3.${k}`);
}

function s3Message(missing: string[]): string {
  return `blob store backend "s3" needs ${missing.join(", ")}`;
}
