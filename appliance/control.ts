/**
 * The supervisor's control API for the `nexus` CLI: plain HTTP on a unix socket in the data dir (mode 0600),
 * so only the box's own user reaches it. Never exposed on a TCP port. A Hono app served through
 * `getRequestListener`: errors are `{ status, message, data }`, a wrong method is 405 with `Allow`.
 */
import { chmodSync, rmSync } from "node:fs";
import http, { type IncomingMessage, type Server, type ServerResponse } from "node:http";
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

/** Starts listening on `socketPath`, replacing a stale socket file. */
export async function startControlServer(socketPath: string, deps: ControlDeps): Promise<Server> {
  const server = http.createServer(
    getRequestListener(controlApp(deps).fetch, { overrideGlobalObjects: false }),
  );
  rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, 0o600);
  return server;
}

/** Calls the control API of the supervisor running on `socketPath`. */
export function controlRequest<T>(
  socketPath: string,
  method: "GET" | "POST",
  path: string,
  timeoutMs = 5000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => {
        try {
          resolve(JSON.parse(body) as T);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.once("timeout", () => req.destroy(new Error("control API timed out")));
    req.once("error", reject);
    req.end();
  });
}
