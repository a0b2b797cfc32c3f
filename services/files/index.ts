/**
 * The files service: spaces of folders and versioned files over a content-addressed blob store (local disk
 * or S3), streaming and resumable uploads, ranged downloads, trash, share links and quotas. Its events
 * (`nexus.files.uploaded`, `.versioned`, `.deleted`) go through the outbox for media, AI, search and sync.
 */
import { defineService } from "../../appliance/kit/index.js";
import { aiMetadataSubscriptions } from "./ai-metadata.js";
import { type FilesConfig, filesConfigSchema } from "./config.js";
import { hubLinkOf, recordVersionsForHub, startBlobMover } from "./hub-sync.js";
import { migrations } from "./migrations.js";
import { expiredTrash, purgeTrashed } from "./nodes.js";
import { nodeRoutes } from "./routes-nodes.js";
import { spaceRoutes } from "./routes-spaces.js";
import { tusRoutes } from "./routes-tus.js";
import { manifest } from "./service-manifest.js";
import { type Ctx, filesOf, releaseBlobs, startFiles } from "./state.js";
import { commitCompleteUploads, sweepUploads } from "./uploads.js";

const SWEEP_MS = 15 * 60_000;

export default defineService<FilesConfig>({
  ...manifest,
  configSchema: filesConfigSchema,
  migrations,
  subscriptions: (ctx) => aiMetadataSubscriptions(ctx),
  routes: (app, ctx) => {
    const files = () => filesOf(ctx);
    spaceRoutes(app, ctx, files);
    nodeRoutes(app, ctx, files);
    tusRoutes(app, ctx, files);
  },
  onStart: async (ctx) => {
    const f = await startFiles(ctx);
    // Recorded before enrolment too: the kit sends those records under the enrolled site, and the mover
    // sends their content, once the box is enrolled.
    recordVersionsForHub(ctx);
    const link = hubLinkOf(ctx);
    if (link) startBlobMover(ctx, f, link);
    const timer = setInterval(() => void recover(ctx).then(() => sweep(ctx)), SWEEP_MS);
    timer.unref();
    // Uploads a crash (or a blob store outage) left complete but uncommitted: claimed now, so the sweep below
    // leaves them alone, and committed in the background, so rehashing a large one does not hold up the start.
    const recovering = recover(ctx);
    await sweep(ctx);
    void recovering;
  },
  health: async (ctx) => {
    const f = filesOf(ctx);
    return (await f.store.stat("0".repeat(64)).then(
      () => true,
      () => false,
    ))
      ? { ok: true }
      : { ok: false, reason: `blob store (${f.store.kind}) unreachable` };
  },
});

/** Commits complete uploads left uncommitted (see commitCompleteUploads); never rejects. */
async function recover(ctx: Ctx): Promise<void> {
  await commitCompleteUploads(ctx, filesOf(ctx)).catch((err) =>
    ctx.log.warn({ err }, "committing left-over uploads failed"),
  );
}

/** Drops stale uploads and trash past its retention. */
async function sweep(ctx: Ctx): Promise<void> {
  const f = filesOf(ctx);
  try {
    await sweepUploads(ctx, f);
    const before = new Date(Date.now() - f.config.trashRetentionDays * 86_400_000).toISOString();
    for (const node of expiredTrash(ctx, before)) {
      await releaseBlobs(ctx, f, purgeTrashed(ctx, node, "retention"));
    }
    // Content no version references (a crash between storing a blob and recording its version, a delete
    // that failed): releaseBlobs checks each one again, and skips what an upload in flight holds.
    let batch: string[] = [];
    for await (const blob of f.store.list()) {
      batch.push(blob.sha256);
      if (batch.length >= 500) {
        await releaseBlobs(ctx, f, batch);
        batch = [];
      }
    }
    await releaseBlobs(ctx, f, batch);
  } catch (err) {
    ctx.log.warn({ err }, "files sweep failed");
  }
}
