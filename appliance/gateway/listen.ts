/** Starting and closing the gateway's listeners: the plain one, and the HTTPS one when configured. */
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo, Server as NetServer } from "node:net";
import type { GatewayConfig } from "../config/schema.js";
import type { GatewayTls } from "./gateway.js";

/** Reads the HTTPS listener's certificate and key; an unreadable file names itself. */
export function readGatewayTls(tls: NonNullable<GatewayConfig["tls"]>): GatewayTls {
  const read = (what: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`gateway.tls.${what}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  return { cert: read("certFile", tls.certFile), key: read("keyFile", tls.keyFile) };
}

/** Listens on `host:port` (0: a free port) and resolves with the port taken. */
export async function listen(server: NetServer, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stops accepting, ends every connection, resolves once closed. */
export async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((r) => server.close(() => r()));
  server.closeAllConnections();
  await closed;
}

/** The URL people open for `host` (a wildcard address is shown as loopback). */
export function urlFor(scheme: "http" | "https", host: string, port: number): string {
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  return `${scheme}://${shown}:${port}`;
}
