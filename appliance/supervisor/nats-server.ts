/**
 * Runs the box's nats-server: JetStream store in the data dir, a free loopback port, generated credentials
 * (data dir secrets/, mode 0600), JetStream domain = site id (the hub sources it over a leafnode later).
 */
import { type ChildProcess, execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { connect } from "nats";
import { clearSyncStreamMarker, restoredSyncStreamSeq } from "../backup/markers.js";
import { ensureEventStream } from "../kit/nats.js";
import { freePort } from "../lib/ports.js";
import type { DataPaths } from "../paths.js";
import { type HubLink, readHubLink } from "../sync/hub-link.js";
import { ensureHubStream, ensureSyncStream, startSyncStreamAt } from "../sync/streams.js";
import { spawnNatsServer } from "./nats-process.js";

export interface NatsCredentials {
  user: string;
  pass: string;
}

/** The credentials services use, created once per data dir. */
export function natsCredentials(paths: DataPaths): NatsCredentials {
  if (existsSync(paths.natsSecret)) return JSON.parse(readFileSync(paths.natsSecret, "utf8"));
  mkdirSync(paths.secrets, { recursive: true, mode: 0o700 });
  const creds = { user: "nexus", pass: randomBytes(24).toString("base64url") };
  writeFileSync(paths.natsSecret, JSON.stringify(creds), { mode: 0o600 });
  return creds;
}

/** nats-server's config text. Values are quoted JSON strings, so paths with spaces are safe. */
export function natsConfig(opts: {
  port: number;
  storeDir: string;
  site: string;
  creds: NatsCredentials;
  /** Once enrolled: the leafnode link to the hub. */
  hub?: HubLink | null;
  /** Loopback monitoring port (`/leafz` tells whether the hub link is up). */
  monitorPort?: number;
  /** Where the hub's leafnode CA (`hub.leafnodeCa`) was written. */
  hubCaFile?: string;
}): string {
  const q = JSON.stringify;
  const tls = !opts.hub?.leafnodeTls
    ? ""
    : opts.hub.leafnodeCa && opts.hubCaFile
      ? `, tls: { ca_file: ${q(opts.hubCaFile)} }`
      : ", tls: {}";
  const leaf = opts.hub
    ? ["leafnodes {", `  remotes: [ { url: ${q(leafnodeUrl(opts.hub))}${tls} } ]`, "  reconnect: 2", "}"]
    : [];
  return [
    `listen: "127.0.0.1:${opts.port}"`,
    `server_name: ${q(`nexus-${opts.site}`)}`,
    "jetstream {",
    `  store_dir: ${q(opts.storeDir)}`,
    `  domain: ${q(opts.site)}`,
    "  max_memory_store: 64MB",
    "}",
    "authorization {",
    `  user: ${q(opts.creds.user)}`,
    `  password: ${q(opts.creds.pass)}`,
    "}",
    "max_payload: 8MB",
    ...(opts.monitorPort ? [`http: "127.0.0.1:${opts.monitorPort}"`] : []),
    ...leaf,
    "",
  ].join("\n");
}

/** The leafnode URL with the site's credentials in it (user and password are URL-safe by construction). */
function leafnodeUrl(h: HubLink): string {
  const u = new URL(h.leafnodeUrl);
  u.username = encodeURIComponent(h.user);
  u.password = encodeURIComponent(h.password);
  return u.toString();
}

/** `nats-server --version`, e.g. "2.9.10"; null when the binary is missing. */
export async function natsServerVersion(bin: string): Promise<string | null> {
  try {
    const { stdout } = await promisify(execFile)(bin, ["--version"], { timeout: 5000 });
    return /v?(\d+\.\d+\.\d+)/.exec(stdout)?.[1] ?? null;
  } catch {
    return null;
  }
}

export interface RunningNats {
  child: ChildProcess;
  url: string;
  creds: NatsCredentials;
}

/** Starts nats-server and resolves once it accepts connections and the events stream exists. */
export async function startNats(opts: {
  bin: string;
  paths: DataPaths;
  site: string;
  logFd: number;
  /** Reuse this port (services reconnect to the same URL after a nats-server restart); 0 picks one. */
  port?: number;
  readyTimeoutMs?: number;
}): Promise<RunningNats> {
  const { paths } = opts;
  mkdirSync(paths.jetstream, { recursive: true });
  mkdirSync(paths.run, { recursive: true });
  const creds = natsCredentials(paths);
  const port = opts.port || (await freePort());
  const hub = readHubLink(paths.root);
  if (hub?.leafnodeCa) writeFileSync(paths.hubLeafCa, hub.leafnodeCa, { mode: 0o600 });
  const monitorPort = await freePort();
  const config = natsConfig({
    port,
    storeDir: paths.jetstream,
    site: opts.site,
    creds,
    hub,
    monitorPort,
    hubCaFile: paths.hubLeafCa,
  });
  writeFileSync(paths.natsMonitor, String(monitorPort), { mode: 0o600 });
  writeFileSync(paths.natsConf, config, { mode: 0o600 });
  const child = spawnNatsServer({
    bin: opts.bin,
    confFile: paths.natsConf,
    pidFile: paths.natsPid,
    logFd: opts.logFd,
  });
  const exited = new Promise<never>((_, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`nats-server exited with code ${code} during start`)));
  });
  exited.catch(() => undefined);
  const url = `nats://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000);
  // nats-server listens a few ms after the spawn: retry soon at first (a fixed 100 ms cost ~100 ms per start).
  let pause = 5;
  for (;;) {
    try {
      const nc = await Promise.race([connectNatsOnce(url, creds), exited]);
      try {
        await ensureEventStream(nc);
        await ensureSyncStream(nc, opts.site);
        const restored = restoredSyncStreamSeq(paths.root);
        if (restored) {
          await startSyncStreamAt(nc, restored);
          clearSyncStreamMarker(paths.root);
        }
        await ensureHubStream(nc, opts.site);
      } finally {
        await nc.close();
      }
      return { child, url, creds };
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`nats-server did not start: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 100);
    }
  }
}

function connectNatsOnce(url: string, creds: NatsCredentials) {
  return connect({ servers: url, user: creds.user, pass: creds.pass, reconnect: false, timeout: 1000 });
}
