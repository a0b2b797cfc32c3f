/**
 * The AI service: model packs (registry in SQLite, files in a blob store), inference on worker threads with
 * the profile's execution providers, generic inference and OCR. Models ship in npm packages or come as pack
 * files; nothing is downloaded.
 */
import { defineService, rule } from "../../appliance/kit/index.js";
import { installBuiltins } from "./builtin.js";
import { type AiConfig, aiConfigSchema } from "./config.js";
import { aiSubscriptions } from "./hooks.js";
import { hubLinkOf, startHubPacks } from "./hub-packs.js";
import { migrations } from "./migrations.js";
import { permissions } from "./permissions.js";
import { detectRoutes } from "./routes-detect.js";
import { inferRoutes, vadRoutes } from "./routes-infer.js";
import { modelRoutes } from "./routes-models.js";
import { runtimeRoutes } from "./routes-runtime.js";
import { searchRoutes } from "./routes-search.js";
import { aiOf, startAi } from "./state.js";

export default defineService<AiConfig>({
  name: "ai",
  version: "0.1.0",
  description:
    "Local AI: model packs, execution providers by profile, generic inference, OCR, moderation, object and face detection, voice activity, embeddings and semantic search",
  configSchema: aiConfigSchema,
  permissions,
  migrations,
  access: [
    rule("GET", "/models", "ai:read"),
    rule("GET", "/models/:name", "ai:read"),
    rule("GET", "/jobs/:id", "ai:read"),
    rule("POST", "/models", "ai:admin", { maxBodyBytes: 2 ** 40 }),
    rule("PUT", "/models/:name/pin", "ai:admin"),
    rule("DELETE", "/models/:name", "ai:admin"),
    rule("GET", "/runtime", "ai:read"),
    rule("GET", "/hub-packs", "ai:read"),
    rule("POST", "/infer/:model", "ai:infer"),
    rule("POST", "/ocr", "ai:infer", { maxBodyBytes: 64 * 1024 * 1024 }),
    rule("POST", "/moderate", "ai:infer", { maxBodyBytes: 64 * 1024 * 1024 }),
    rule("POST", "/detect", "ai:infer", { maxBodyBytes: 64 * 1024 * 1024 }),
    rule("POST", "/vad", "ai:infer", { maxBodyBytes: 256 * 1024 * 1024 }),
    rule("POST", "/embed", "ai:infer"),
    rule("POST", "/search", "ai:read"),
    rule("POST", "/index", "ai:index"),
    rule("DELETE", "/index/:id", "ai:index"),
  ],
  subscriptions: (ctx) => aiSubscriptions(ctx),
  routes: (app, ctx) => {
    const ai = () => aiOf(ctx);
    modelRoutes(app, ctx, ai);
    inferRoutes(app, ctx, ai);
    detectRoutes(app, ctx, ai);
    vadRoutes(app, ctx, ai);
    searchRoutes(app, ctx, ai);
    runtimeRoutes(app, ctx, ai);
  },
  onStart: async (ctx) => {
    const ai = await startAi(ctx);
    if (ctx.config.builtinPacks) {
      const installed = await installBuiltins(ctx, ai);
      if (installed.length > 0) ctx.log.info({ installed }, "built-in model packs installed");
    }
    const link = hubLinkOf(ctx);
    if (link) startHubPacks(ctx, ai, link);
  },
});
