/**
 * Files settings (env `NEXUS_FILES_<KEY>`, the profile's or config.json's `serviceConfig.files`). The blob
 * store is chosen here: `backend` local (default, under the data dir) or s3 (MinIO or any S3-compatible server).
 */
import { z } from "zod";
import { type BlobStoreConfig, blobStoreConfigSchema } from "./blob-store/index.js";

const GiB = 1024 ** 3;

export const filesConfigSchema = z.object({
  backend: z.enum(["local", "s3"]).default("local"),
  /** Local backend: where blobs live (default <data>/services/files/blobs). */
  blobRoot: z.string().min(1).optional(),
  s3Endpoint: z.string().min(1).optional(),
  s3Port: z.number().int().min(1).max(65535).optional(),
  s3UseSsl: z.boolean().default(true),
  s3AccessKey: z.string().min(1).optional(),
  s3SecretKey: z.string().min(1).optional(),
  s3Bucket: z.string().min(3).max(63).optional(),
  s3Region: z.string().min(1).default("us-east-1"),
  s3Prefix: z.string().default(""),
  /** Largest single file. */
  maxFileBytes: z
    .number()
    .int()
    .positive()
    .default(64 * GiB),
  /** 0: no limit. A quota set per space (PUT /quotas/<space>) wins. */
  defaultUserQuotaBytes: z.number().int().min(0).default(0),
  defaultTeamQuotaBytes: z.number().int().min(0).default(0),
  /** Versions kept per file; older ones are dropped when a new one arrives. */
  keepVersions: z.number().int().min(1).max(1000).default(20),
  /** Trashed items are purged after this many days. */
  trashRetentionDays: z.number().int().min(1).default(30),
  /** An unfinished resumable upload is dropped after this many hours without progress. */
  uploadExpiryHours: z.number().int().min(1).default(24),
  /** Bandwidth for sending content to the hub (bytes per second; 0: no limit). */
  hubBlobBytesPerSecond: z.number().int().min(0).default(0),
  /** Longest lifetime of a share link. */
  shareMaxSeconds: z
    .number()
    .int()
    .min(60)
    .default(90 * 24 * 3600),
});

export type FilesConfig = z.infer<typeof filesConfigSchema>;

/** The blob-store part, validated (throws a readable error when s3 settings are missing). */
export function blobStoreConfig(c: FilesConfig): BlobStoreConfig {
  return blobStoreConfigSchema.parse({
    backend: c.backend,
    root: c.blobRoot,
    s3:
      c.backend === "s3"
        ? {
            endPoint: c.s3Endpoint,
            port: c.s3Port,
            useSSL: c.s3UseSsl,
            accessKey: c.s3AccessKey,
            secretKey: c.s3SecretKey,
            bucket: c.s3Bucket,
            region: c.s3Region,
            prefix: c.s3Prefix,
          }
        : undefined,
  });
}
