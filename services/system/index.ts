/** The system service: box info, uptime, disk, time and box settings. The smallest real service. */
import { defineService } from "../../appliance/kit/index.js";
import { migrations } from "./migrations.js";
import { systemRoutes } from "./routes.js";
import { manifest } from "./service-manifest.js";
import { applyHubSetting, recordBoot } from "./settings.js";

export default defineService({
  ...manifest,
  migrations,
  // Box settings the hub manages: `PUT /api/hub/data/system/settings/<key>` `{ data: { value } }`.
  syncApply: { settings: applyHubSetting },
  routes: (app, ctx) => systemRoutes(app, ctx),
  onStart: (ctx) => {
    recordBoot(ctx);
  },
});
