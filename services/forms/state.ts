/**
 * The forms service's runtime. Attachments (form media, CSVs, submission photos) go in a blob store of the
 * service's own, under its data dir, built with the files service's LocalBlobStore: the same content-addressed,
 * verified, never-partial store, without making a form submission depend on the files service being up, and
 * without files' spaces, quotas and trash (which have no meaning for a submission's photo).
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { ServiceContext } from "../../appliance/kit/index.js";
import type { BlobStore } from "../../appliance/lib/blob-store.js";
import { LocalBlobStore } from "../files/blob-store/index.js";
import type { FormsConfig } from "./config.js";

export type Ctx = ServiceContext<FormsConfig>;

export interface FormsRuntime {
  config: FormsConfig;
  store: BlobStore;
}

const runtimes = new WeakMap<object, FormsRuntime>();

/** The runtime of `ctx`, created on first use. */
export function formsOf(ctx: Ctx): FormsRuntime {
  let f = runtimes.get(ctx);
  if (!f) {
    f = { config: ctx.config, store: new LocalBlobStore(ctx.config.blobRoot ?? join(ctx.dataDir, "blobs")) };
    runtimes.set(ctx, f);
  }
  return f;
}

/** Creates the blob store's folders. */
export async function startForms(ctx: Ctx): Promise<FormsRuntime> {
  const f = formsOf(ctx);
  await f.store.init();
  return f;
}

/** Stores `data` (fsynced, verified) and returns its sha256 and md5. */
export async function putBlob(f: FormsRuntime, data: Buffer): Promise<{ sha256: string; md5: string }> {
  const sha256 = createHash("sha256").update(data).digest("hex");
  await f.store.put(sha256, Readable.from([data]), data.length);
  return { sha256, md5: createHash("md5").update(data).digest("hex") };
}

/** The current time as stored. */
export const now = () => new Date().toISOString();
