/**
 * A service's second listener, on a unix socket (process isolation): the gateway in the supervisor reaches the
 * service there instead of over loopback TCP. Owner-only (0600) in an owner-only folder, like the control
 * socket; the TCP port stays for whatever else calls the service directly (health probes, identity's
 * introspection from the supervisor, tests).
 */
import { chmodSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";

/** The longest socket path every platform accepts (sun_path is 104–108 bytes with the NUL). */
export const MAX_SOCKET_PATH = 100;

/** Listens with `fetch` on `path`; null when the path is too long for a unix socket or listening fails. */
export async function listenUnix(
  fetch: (req: Request) => Response | Promise<Response>,
  path: string,
): Promise<Server | null> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return null;
  const server = createAdaptorServer({ fetch }) as Server;
  // As on the TCP port: the gateway enforces request and idle timeouts itself.
  server.requestTimeout = 0;
  rmSync(path, { force: true });
  const ok = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(path, () => resolve(true));
  });
  if (!ok) return null;
  chmodSync(path, 0o600);
  return server;
}

/** Stops the listener and removes its socket file. */
export async function closeUnix(server: Server, path: string): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
  rmSync(path, { force: true });
}
