export { type BlobStoreConfig, blobStoreConfigSchema, createBlobStore } from "./config.js";
export { LocalBlobStore } from "./local.js";
export { S3BlobStore, type S3BlobStoreOptions } from "./s3.js";
