/** Where things are: the package root (source or dist), the data dir layout. */
import { readFileSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { findPackageRoot } from "./lib/package-root.js";
import { hubLinkFile } from "./sync/hub-link.js";

/** The folder holding this package's package.json, found from this file (works from source and dist). */
export function packageRoot(): string {
  return findPackageRoot(import.meta.url, "nexus-edge");
}

/** The appliance version from package.json. */
export function applianceVersion(): string {
  return JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")).version as string;
}

/** Default data dir: /var/lib/nexus-edge for root, else ~/.local/share/nexus-edge. */
export function defaultDataDir(): string {
  if (process.getuid?.() === 0) return "/var/lib/nexus-edge";
  const base = process.env.XDG_DATA_HOME || join(os.homedir(), ".local", "share");
  return join(base, "nexus-edge");
}

/** The data dir layout; every writer and reader goes through this. */
export function dataPaths(dataDir: string) {
  const root = resolve(dataDir);
  return {
    root,
    config: join(root, "config.json"),
    run: join(root, "run"),
    supervisorPid: join(root, "run", "supervisor.pid"),
    natsPid: join(root, "run", "nats.pid"),
    /** The port of nats-server's loopback monitoring endpoint. */
    natsMonitor: join(root, "run", "nats-monitor.port"),
    controlSocket: join(root, "run", "control.sock"),
    state: join(root, "run", "state.json"),
    logs: join(root, "logs"),
    logFile: (unit: string) => join(root, "logs", `${unit}.log`),
    nats: join(root, "nats"),
    natsConf: join(root, "nats", "nats.conf"),
    jetstream: join(root, "nats", "jetstream"),
    secrets: join(root, "secrets"),
    natsSecret: join(root, "secrets", "nats.json"),
    adminToken: join(root, "secrets", "admin.token"),
    /** Site credentials from the hub (`nexus enroll`): the leafnode link. */
    hubLink: hubLinkFile(root),
    /** The CA the hub's leafnode certificate chains to (from the enrolment), for nats-server. */
    hubLeafCa: join(root, "secrets", "hub-leaf-ca.pem"),
    services: join(root, "services"),
  };
}

export type DataPaths = ReturnType<typeof dataPaths>;
