/** The system service: box info, uptime, disk, time and box settings. The smallest real service. */
import { defineService, rule } from "../../appliance/kit/index.js";
import { migrations } from "./migrations.js";
import { permissions } from "./permissions.js";
import { systemRoutes } from "./routes.js";
import { applyHubSetting, recordBoot } from "./settings.js";

export default defineService({
  name: "system",
  version: "0.1.0",
  description: "Box facts (host, CPU, memory, disk, uptime, clock) and box settings",
  migrations,
  permissions,
  access: [
    rule("GET", "/info", "system:read"),
    rule("GET", "/time", "system:read"),
    rule("GET", "/settings", "system:read"),
    rule("GET", "/settings/:key", "system:read"),
    rule("PUT", "/settings/:key", "system:write"),
    rule("DELETE", "/settings/:key", "system:write"),
  ],
  // Box settings the hub manages: `PUT /api/hub/data/system/settings/<key>` `{ data: { value } }`.
  syncApply: { settings: applyHubSetting },
  routes: (app, ctx) => systemRoutes(app, ctx),
  onStart: (ctx) => {
    recordBoot(ctx);
  },
});
