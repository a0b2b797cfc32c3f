/**
 * The media service: probes, photo variants, video thumbnails + sprite + HLS ladders, audio renditions and
 * waveforms, made by ffmpeg from file versions the files service stores. A durable job queue in SQLite,
 * progress and ETA from ffmpeg, encoders chosen by the hardware profile with a libx264 fallback, and
 * playback through the gateway (session or signed URLs). See docs/media.md.
 */
import { defineService } from "../../appliance/kit/index.js";
import { type MediaConfig, mediaConfigSchema } from "./config.js";
import type { Ctx } from "./jobs.js";
import { migrations } from "./migrations.js";
import { mediaRoutes } from "./routes.js";
import { manifest } from "./service-manifest.js";
import { mediaOf } from "./state.js";
import { mediaSubscriptions } from "./subscriptions.js";
import { MediaWorker } from "./worker.js";

const workers = new WeakMap<object, MediaWorker>();
const workerOf = (ctx: Ctx) => {
  let w = workers.get(ctx);
  if (!w) {
    w = new MediaWorker(ctx, mediaOf(ctx));
    workers.set(ctx, w);
  }
  return w;
};

export default defineService<MediaConfig>({
  ...manifest,
  configSchema: mediaConfigSchema,
  migrations,
  routes: (app, ctx) => mediaRoutes(app, ctx, () => workerOf(ctx)),
  subscriptions: (ctx) => mediaSubscriptions(ctx, () => workerOf(ctx)),
  onStart: async (ctx) => {
    const m = mediaOf(ctx);
    await m.outputs.init();
    workerOf(ctx).start();
    process.once("SIGTERM", () => workerOf(ctx).stop());
  },
  health: async (ctx) => {
    const m = mediaOf(ctx);
    return (await m.sources.stat("0".repeat(64)).then(
      () => true,
      () => false,
    ))
      ? { ok: true }
      : { ok: false, reason: "the files blob store is unreachable" };
  },
});
