/**
 * The supervisor's control API for the `nexus` CLI: plain HTTP on a unix socket in the data dir (mode 0600),
 * so only the box's own user reaches it. Never exposed on a TCP port. A Hono app served through
 * `getRequestListener`: errors are `{ status, message, data }`, a wrong method is 405 with `Allow`.
 */
import { chmodSync, rmSync } from "node:fs";
import http, { type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { ControlDeps } from "./control-app.js";

export type { ControlDeps } from "./control-app.js";

/** Starts listening on `socketPath`, replacing a stale socket file. */
export async function startControlServer(socketPath: string, deps: ControlDeps): Promise<Server> {
  // The routes (a Hono app) load with the first call: a box nobody asks for its status never loads them.
  let listener: Promise<(req: IncomingMessage, res: ServerResponse) => unknown> | undefined;
  const server = http.createServer((req, res) => {
    listener ??= import("./control-app.js").then((m) => m.controlListener(deps));
    listener.then(
      (handle) => handle(req, res),
      (err) => {
        deps.log?.error({ err }, "control API failed to load");
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: 500, message: "internal error", data: null }));
      },
    );
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
