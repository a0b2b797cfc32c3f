/**
 * The hub's nats-server: JetStream domain `hub`, a client port for the hub itself (loopback) and a leafnode
 * port for the boxes. Every enrolled site has its own user, and its permissions confine it to its own
 * subjects: it can only publish its sync traffic and JetStream replies, and only receive API calls for its own
 * JetStream domain and messages addressed to it. Revoking a site rewrites the config and reloads the server,
 * which drops the site's leafnode connection. Passwords are stored as bcrypt hashes only.
 */
import { type ChildProcess, execFile } from "node:child_process";
import { closeSync, openSync, readSync, statSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { connect, type JetStreamManager, type NatsConnection } from "nats";
import { reapStaleNats, spawnNatsServer } from "../supervisor/nats-process.js";

export const HUB_DOMAIN = "hub";

export interface SiteUser {
  site: string;
  user: string;
  passwordHash: string;
}

/** What a site's leafnode connection may send to the hub and receive from it. */
export function sitePermissions(site: string) {
  return {
    // From the box: its sync subjects, and the plumbing of the hub's JetStream sourcing its stream
    // (delivery `$JS.S.*`, consumer-create replies `$JSC.R.*`, flow control, acks, request replies).
    publish: [`sync.${site}.>`, "$JS.S.>", "$JSC.R.>", "$JS.FC.>", "$JS.ACK.>", "_INBOX.>"],
    // To the box: JetStream API calls for its own domain, and messages addressed to it.
    subscribe: [`$JS.${site}.API.>`, `hub.${site}.>`, "$JS.FC.>", "$JS.ACK.>", "_INBOX.>"],
  };
}

/** The `authorization { users: [...] }` block: the hub's own user and one confined user per active site. */
export function hubUsersBlock(
  hubUser: { user: string; passwordHash: string },
  sites: readonly SiteUser[],
): string {
  const q = JSON.stringify;
  const users = [
    `    { user: ${q(hubUser.user)}, password: ${q(hubUser.passwordHash)} }`,
    ...sites.map((s) => {
      const p = sitePermissions(s.site);
      return (
        `    { user: ${q(s.user)}, password: ${q(s.passwordHash)}, permissions: { ` +
        `publish: { allow: ${q(p.publish)} }, subscribe: { allow: ${q(p.subscribe)} } } }`
      );
    }),
  ];
  return ["authorization {", "  users: [", ...users, "  ]", "}", ""].join("\n");
}

export function hubNatsConfig(opts: {
  clientPort: number;
  leafHost: string;
  leafPort: number;
  storeDir: string;
  hubUser: { user: string; passwordHash: string };
  sites: readonly SiteUser[];
  /** Leafnode TLS: boxes must speak TLS to this listener (see leaf-tls.ts). */
  tls?: { certFile: string; keyFile: string } | null;
}): string {
  const q = JSON.stringify;
  const tls = opts.tls
    ? [`  tls { cert_file: ${q(opts.tls.certFile)}, key_file: ${q(opts.tls.keyFile)}, timeout: 5 }`]
    : [];
  return [
    `listen: "127.0.0.1:${opts.clientPort}"`,
    `server_name: "nexus-hub"`,
    "jetstream {",
    `  store_dir: ${q(opts.storeDir)}`,
    `  domain: ${q(HUB_DOMAIN)}`,
    "}",
    hubUsersBlock(opts.hubUser, opts.sites),
    "leafnodes {",
    `  listen: ${q(`${opts.leafHost}:${opts.leafPort}`)}`,
    ...tls,
    "}",
    "max_payload: 8MB",
    "",
  ].join("\n");
}

export interface HubNats {
  /** The nats-server the hub started; null with an external cluster. */
  child: ChildProcess | null;
  url: string;
  /** Writes the site users and has the server(s) reload them. */
  reload(sites: readonly SiteUser[]): Promise<void>;
}

/**
 * Reloads with the site users as they are when each reload's turn comes: the list is read inside the one-at-a-time
 * queue, never before it. Reading first and reloading after let two enrolments at once finish in the wrong order,
 * so the later reload wrote the older list and dropped the site enrolled in between.
 */
export function siteUsersReloader(
  nats: Pick<HubNats, "reload">,
  siteUsers: () => Promise<readonly SiteUser[]>,
): () => Promise<void> {
  let queue: Promise<unknown> = Promise.resolve();
  return () => {
    const done = queue.then(async () => nats.reload(await siteUsers()));
    queue = done.catch(() => undefined);
    return done;
  };
}

/**
 * An existing NATS cluster (production): the hub does not start nats-server. It writes the users block to
 * `authFile`, which the cluster's config includes (`include` it inside each server's config), and runs
 * `reloadCommand` (e.g. `systemctl reload nats-server`, or `nats-server --signal reload=<pid>` on each node).
 * The cluster needs JetStream with domain `hub` and a leafnode listener.
 */
export function externalHubNats(opts: {
  urls: string[];
  authFile: string;
  reloadCommand?: string;
  hubUser: { user: string; passwordHash: string };
}): HubNats {
  return {
    child: null,
    url: opts.urls.join(","),
    async reload(sites) {
      writeFileSync(opts.authFile, hubUsersBlock(opts.hubUser, sites), { mode: 0o600 });
      if (opts.reloadCommand)
        await promisify(execFile)("sh", ["-c", opts.reloadCommand], { timeout: 30_000 });
      await new Promise((r) => setTimeout(r, 300));
    },
  };
}

/**
 * Starts nats-server with `config(sites)` (written to `confFile`, 0600) and waits until `user` can connect.
 * A server left by an earlier hub killed -9 (named in `pidFile`) is ended first: it would hold the ports and
 * the JetStream store. The new one ends with this process (nats-process.ts).
 */
export async function startHubNats(opts: {
  bin: string;
  confFile: string;
  pidFile: string;
  /** Told the pid of a server left by an earlier hub, once it is gone. */
  onStale?: (pid: number) => void;
  config: (sites: readonly SiteUser[]) => string;
  sites: readonly SiteUser[];
  clientPort: number;
  user: string;
  pass: string;
  logFd: number | "ignore";
  /** The file `logFd` writes to: reload() reads the server's confirmation there. */
  logFile?: string;
  /** How long reload() waits for nats-server to confirm (default 30 s). */
  reloadTimeoutMs?: number;
}): Promise<HubNats> {
  const stale = await reapStaleNats(opts.pidFile, opts.confFile);
  if (stale) opts.onStale?.(stale);
  writeFileSync(opts.confFile, opts.config(opts.sites), { mode: 0o600 });
  const child = spawnNatsServer(opts);
  const url = `nats://127.0.0.1:${opts.clientPort}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const nc = await connect({
        servers: url,
        user: opts.user,
        pass: opts.pass,
        reconnect: false,
        timeout: 1000,
      });
      await nc.close();
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`hub nats-server did not start: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let reloads: Promise<unknown> = Promise.resolve();
  return {
    child,
    url,
    reload(sites) {
      // One at a time: each waits for the confirmation of its own SIGHUP, not of one sent before it.
      const done = reloads.then(async () => {
        writeFileSync(opts.confFile, opts.config(sites), { mode: 0o600 });
        const from = opts.logFile ? statSync(opts.logFile).size : 0;
        child.kill("SIGHUP");
        if (opts.logFile) await reloaded(child, opts.logFile, from, opts.reloadTimeoutMs ?? 30_000);
        else await new Promise((r) => setTimeout(r, 300)); // no log to read: a guess
      });
      reloads = done.catch(() => undefined);
      return done;
    },
  };
}

/**
 * Resolves once nats-server has logged, after byte `from` of its log, that it finished reloading. nats-server
 * applies a SIGHUP asynchronously, and until it has finished its JetStream API has no responders (a request
 * gets NATS 503): under load that lasted 420 ms, longer than the fixed 300 ms the hub used to wait, and
 * the enrolment's stream creation right after it failed ("the hub refused: internal error").
 */
async function reloaded(child: ChildProcess, logFile: string, from: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = readFrom(logFile, from);
    if (text.includes("Reloaded server configuration")) return;
    const failed = /Failed to reload server configuration: (.*)/.exec(text);
    if (failed) throw new Error(`hub nats-server refused its new configuration: ${failed[1]}`);
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error("hub nats-server exited while reloading its configuration");
    if (Date.now() > deadline)
      throw new Error(`hub nats-server did not confirm its reload within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function readFrom(file: string, from: number): string {
  const fd = openSync(file, "r");
  try {
    const size = statSync(file).size;
    if (size <= from) return "";
    const buf = Buffer.alloc(size - from);
    const n = readSync(fd, buf, 0, buf.length, from);
    return buf.subarray(0, n).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

export function connectHub(url: string, user: string, pass: string): Promise<NatsConnection> {
  return connect({ servers: url, user, pass, name: "nexus-hub", maxReconnectAttempts: -1 });
}

/** Runs fn, again for up to `waitMs` while JetStream has no responders (NATS 503: a reload, an election). */
export async function whileNoResponders<T>(fn: () => Promise<T>, waitMs: number): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if ((err as { code?: string }).code !== "503" || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** The JetStream manager, asked again for up to `waitMs` while JetStream has no responders. */
export function jetStreamManager(nc: NatsConnection, waitMs: number): Promise<JetStreamManager> {
  return whileNoResponders(() => nc.jetstreamManager(), waitMs);
}
