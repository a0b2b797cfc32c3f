/** The system service: box info, uptime, disk, time and box settings. The smallest real service. */
import { defineService } from "../../appliance/kit/index.js";
import { migrations } from "./migrations.js";
import { systemRoutes } from "./routes.js";
import { recordBoot } from "./settings.js";

export default defineService({
  name: "system",
  version: "0.1.0",
  description: "Box facts (host, CPU, memory, disk, uptime, clock) and box settings",
  migrations,
  routes: (app, ctx) => systemRoutes(app, ctx),
  onStart: (ctx) => {
    recordBoot(ctx);
  },
});
