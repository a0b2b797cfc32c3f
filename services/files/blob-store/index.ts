export { type BlobStoreConfig, blobStoreConfigSchema, createBlobStore } from "./config.js";
export { LocalBlobStore } from "./local.js";
export { S3BlobStore, type S3BlobStoreOptions } from "./s3.js";
export {
  assertSha256,
  BlobIntegrityError,
  BlobNotFoundError,
  type BlobStat,
  type BlobStore,
  type FileSource,
  isSha256,
} from "./types.js";
