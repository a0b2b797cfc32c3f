/**
 * The AI service: model packs (registry in SQLite, files in a blob store), inference on worker threads with
 * the profile's execution providers, generic inference and OCR. Models ship in npm packages or come as pack
 * files; nothing is downloaded.
 */
import { defineService } from "../../appliance/kit/index.js";
import { installBuiltins } from "./builtin.js";
import { type AiConfig, aiConfigSchema } from "./config.js";
import { aiSubscriptions } from "./hooks.js";
import { hubLinkOf, startHubPacks } from "./hub-packs.js";
import { migrations } from "./migrations.js";
import { detectRoutes } from "./routes-detect.js";
import { inferRoutes, vadRoutes } from "./routes-infer.js";
import { modelRoutes } from "./routes-models.js";
import { runtimeRoutes } from "./routes-runtime.js";
import { searchRoutes } from "./routes-search.js";
import { manifest } from "./service-manifest.js";
import { aiOf, startAi } from "./state.js";

export default defineService<AiConfig>({
  ...manifest,
  configSchema: aiConfigSchema,
  migrations,
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
