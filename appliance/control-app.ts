/**
 * The control API's routes (see control.ts): a Hono app served through `getRequestListener`: errors are
 * `{ status, message, data }`, a wrong method is 405 with `Allow`. Loaded with the first call.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { getRequestListener } from "@hono/node-server";
import { Hono } from "hono";
import { notFoundOr405 } from "./kit/allow.js";
import { ApiError, renderError } from "./kit/errors.js";
import type { Logger } from "./kit/logger.js";
import { SERVICE_NAME } from "./lib/names.js";
import type { Supervisor } from "./supervisor/supervisor.js";

export interface ControlDeps {
  supervisor: Supervisor;
  version: string;
  gatewayUrl: string;
  /** Begins a graceful stop of the whole appliance. */
  requestStop: () => void;
  /** Where a failed control call is logged. */
  log?: Logger;
}

/** The control routes: status, stop the appliance, restart a unit. */
export function controlApp(deps: ControlDeps) {
  const app = new Hono<{ Bindings: { incoming: IncomingMessage; outgoing: ServerResponse } }>();
  app.get("/status", (c) =>
    c.json({
      version: deps.version,
      pid: process.pid,
      gateway: deps.gatewayUrl,
      nats: deps.supervisor.natsState(),
      services: deps.supervisor.status(),
    }),
  );
  app.post("/stop", (c) => {
    // Once the answer is out: the stop closes this server.
    c.env.outgoing.once("finish", deps.requestStop);
    return c.json({ stopping: true }, 202);
  });
  app.post("/units/:unit/restart", async (c) => {
    const unit = c.req.param("unit");
    if (!SERVICE_NAME.test(unit)) throw new ApiError(400, "invalid unit name", { unit: unit.slice(0, 64) });
    if (!deps.supervisor.status().some((s) => s.unit === unit)) {
      throw new ApiError(404, `no unit ${unit}`, { unit });
    }
    await deps.supervisor.restartUnit(unit);
    return c.json({ restarting: unit }, 202);
  });
  app.notFound(notFoundOr405(app));
  app.onError((err, c) => renderError(err, c, deps.log));
  return app;
}

/** The control app as a node request handler. */
export function controlListener(deps: ControlDeps) {
  return getRequestListener(controlApp(deps).fetch, { overrideGlobalObjects: false });
}
