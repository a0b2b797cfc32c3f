/**
 * The media service: probes, photo variants, video thumbnails + sprite + HLS ladders, audio renditions and
 * waveforms, made by ffmpeg from file versions the files service stores. A durable job queue in SQLite,
 * progress and ETA from ffmpeg, encoders chosen by the hardware profile with a libx264 fallback, and
 * playback through the gateway (session or signed URLs). See docs/media.md.
 */
import { defineService, rule } from "../../appliance/kit/index.js";
import { type MediaConfig, mediaConfigSchema } from "./config.js";
import type { Ctx } from "./jobs.js";
import { migrations } from "./migrations.js";
import { permissions } from "./permissions.js";
import { mediaRoutes } from "./routes.js";
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
  name: "media",
  version: "0.1.0",
  description: "Media: probes, photo variants, thumbnails, HLS ladders, audio renditions and waveforms",
  configSchema: mediaConfigSchema,
  permissions,
  migrations,
  access: [
    rule("POST", "/jobs", "media:write"),
    rule("GET", "/jobs", "media:read"),
    rule("GET", "/jobs/:id", "media:read"),
    rule("DELETE", "/jobs/:id", "media:write"),
    rule("GET", "/jobs/:id/files/*", "media:read"),
    rule("GET", "/events", "media:read"),
    rule("GET", "/spaces/:space/settings", "media:read"),
    rule("PUT", "/spaces/:space/settings", "media:write"),
    // Signed URLs: the token in the path is the authorisation (signing.ts).
    rule("GET", "/play/:token/*", "public"),
  ],
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
