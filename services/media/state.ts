/**
 * The media service's runtime, one per context: the ffmpeg binaries, the files blob store it reads sources
 * from (the same store files writes, opened here read-only: no extra copy and no loopback hop for a 4 GB
 * video, and blob keys are sha256 so nothing can be read by name), its own blob store for outputs (separate,
 * because files' garbage collection deletes every blob no file version references), and live job updates.
 */
import { EventEmitter } from "node:events";
import { join } from "node:path";
import type { ServiceContext } from "../../appliance/kit/index.js";
import type { BlobStore } from "../../appliance/lib/blob-store.js";
import type { Counter } from "../../appliance/lib/metrics/index.js";
import { createBlobStore, LocalBlobStore } from "../files/blob-store/index.js";
import { blobStoreConfig, filesConfigSchema } from "../files/config.js";
import type { MediaConfig } from "./config.js";
import { type Binaries, resolveBinaries } from "./ffmpeg/resolve.js";
import { formsStore } from "./forms-sources.js";

export interface Media {
  config: MediaConfig;
  bins: Binaries;
  /** The files service's blob store (only stat/get are used). */
  sources: BlobStore;
  /** Where a local source blob lies, to hand ffmpeg a seekable path; null for S3 (copied first). */
  sourcePath: ((sha256: string) => string) | null;
  /** The forms service's attachment store (submission photos, audio, video), read-only, and its paths. */
  forms: { store: BlobStore; path: (sha256: string) => string };
  outputs: BlobStore;
  workDir: string;
  /** Job snapshots as they change, for SSE. */
  live: EventEmitter;
  bytes: { downloaded: Counter };
}

const runtimes = new WeakMap<object, Media>();

/** The runtime of `ctx`, created on first use. */
export function mediaOf(ctx: ServiceContext<MediaConfig>): Media {
  let m = runtimes.get(ctx);
  if (m) return m;
  const files = filesConfigSchema.parse(ctx.config.sourceFiles);
  // ctx.dataDir is <data>/services/media; files keeps its blobs in <data>/services/files/blobs by default.
  const root = files.blobRoot ?? join(ctx.dataDir, "..", "files", "blobs");
  const sources = createBlobStore({ ...blobStoreConfig(files), root }, ctx.dataDir);
  const forms = formsStore(ctx);
  const live = new EventEmitter();
  live.setMaxListeners(0);
  m = {
    config: ctx.config,
    bins: resolveBinaries(),
    sources,
    sourcePath:
      sources.kind === "local"
        ? (sha) => join(root, sha.slice(0, 2), sha.slice(2, 4), sha) // LocalBlobStore's layout
        : null,
    forms: {
      store: forms.store,
      path: (sha) => join(forms.root, sha.slice(0, 2), sha.slice(2, 4), sha),
    },
    outputs: new LocalBlobStore(join(ctx.dataDir, "blobs")),
    workDir: join(ctx.dataDir, "work"),
    live,
    bytes: {
      downloaded: ctx.metrics.counter("nexus_media_download_bytes_total", "Media bytes sent to players."),
    },
  };
  runtimes.set(ctx, m);
  return m;
}
