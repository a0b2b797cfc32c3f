/**
 * The supervisor's control API for the `nexus` CLI: plain HTTP on a unix socket in the data dir (mode 0600),
 * so only the box's own user reaches it. Never exposed on a TCP port.
 */
import { chmodSync, rmSync } from "node:fs";
import http, { type Server } from "node:http";
import type { Supervisor } from "./supervisor/supervisor.js";

export interface ControlDeps {
  supervisor: Supervisor;
  version: string;
  gatewayUrl: string;
  /** Begins a graceful stop of the whole appliance. */
  requestStop: () => void;
}

/** Starts listening on `socketPath`, replacing a stale socket file. */
export async function startControlServer(socketPath: string, deps: ControlDeps): Promise<Server> {
  const server = http.createServer((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const url = req.url ?? "/";
    if (req.method === "GET" && url === "/status") {
      return json(200, {
        version: deps.version,
        pid: process.pid,
        gateway: deps.gatewayUrl,
        nats: deps.supervisor.natsState(),
        services: deps.supervisor.status(),
      });
    }
    if (req.method === "POST" && url === "/stop") {
      json(202, { stopping: true });
      return deps.requestStop();
    }
    const m = /^\/units\/([a-z][a-z0-9-]{0,31})\/restart$/.exec(url);
    if (req.method === "POST" && m) {
      return deps.supervisor
        .restartUnit(m[1]!)
        .then(() => json(202, { restarting: m[1] }))
        .catch((err: Error) => json(404, { status: 404, message: err.message, data: null }));
    }
    json(404, { status: 404, message: "no such control route", data: null });
  });
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
