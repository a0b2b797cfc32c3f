/**
 * The gateway of a shared host (`isolation: shared`): the supervisor keeps the public port and hands each new
 * connection to this process over IPC once it is ready, so `/api/<service>/…` of the services running here is
 * checked and answered in this process (in-process dispatch, no second HTTP hop). Every other request (the
 * appliance API, console, /health, /ready, /metrics, a service that failed to start here) goes on to the
 * supervisor's gateway on its private unix socket, credentials included: it checks them there.
 * Configuration: NEXUS_HOST_GATEWAY, JSON of HostGatewaySpec, set by the supervisor for the shared unit only.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { GatewayConfig } from "../config/schema.js";
import { bootstrapTokenAuth } from "../gateway/auth.js";
import { createGateway } from "../gateway/gateway.js";
import { identityAuth } from "../gateway/identity-auth.js";
import type { LocalApp } from "../gateway/in-process.js";
import { GatewayMetrics } from "../gateway/metrics.js";
import { proxy } from "../gateway/proxy.js";
import { clientIp, fail } from "../gateway/reply.js";
import { type AccessRule, type Logger, type RunningService, ruleFor } from "../kit/index.js";
import { GATEWAY_CONNECTION, GATEWAY_METRICS, GATEWAY_READY, GATEWAY_RELEASE } from "./gateway-ipc.js";

/** What the supervisor tells a shared host about the gateway it runs. */
export interface HostGatewaySpec {
  config: GatewayConfig;
  corsOrigins: string[];
  /** The supervisor gateway's private unix socket. */
  socket: string;
  version: string;
  site: string;
  /** With identity: its sessions and tokens; without: the bootstrap token in this file. */
  auth: { kind: "identity" } | { kind: "token"; file: string };
}

/** The spec from the host's environment, or null when this host runs no gateway. */
export function hostGatewaySpec(env: NodeJS.ProcessEnv): HostGatewaySpec | null {
  return env.NEXUS_HOST_GATEWAY ? (JSON.parse(env.NEXUS_HOST_GATEWAY) as HostGatewaySpec) : null;
}

/**
 * Starts the gateway over the services running here and takes connections from the supervisor. Returns the
 * server (not listening on any port of its own) and its metrics.
 */
export function startHostGateway(
  spec: HostGatewaySpec,
  running: readonly RunningService[],
  opts: { internalToken: string; log: Logger; rules: ReadonlyMap<string, AccessRule[]> },
): { server: Server; metrics: GatewayMetrics } {
  const log = opts.log.child({ component: "gateway" });
  const ports = new Map(running.map((s) => [s.name, s.port]));
  const names = [...ports.keys()];
  const apps = new Map<string, LocalApp>(running.map((s) => [s.name, localApp(s.app)]));
  const metrics = new GatewayMetrics();
  const auth =
    spec.auth.kind === "identity"
      ? identityAuth({
          port: () => ports.get("identity"),
          internalToken: opts.internalToken,
          site: spec.site,
          log,
        })
      : bootstrapTokenAuth(readFileSync(spec.auth.file, "utf8").trim());
  const server = createGateway({
    config: spec.config,
    log,
    version: spec.version,
    auth,
    metrics,
    internalToken: opts.internalToken,
    route: (service, method, path) => ruleFor(opts.rules.get(service), method, path),
    routes: () => ports,
    services: () => names,
    gauges: () => [],
    corsOrigins: spec.corsOrigins,
    local: (name) => apps.get(name),
    forward: (req, res) => toSupervisor(req, res, spec),
  });
  // Never listens itself: 'listening' starts node's connection tracking (headers and request timeouts swept,
  // closeAllConnections) for the connections the supervisor hands over.
  server.emit("listening");
  countInFlight(server);
  process.on("message", (msg: { type?: string; id?: number } | null, handle?: unknown) => {
    if (msg?.type === GATEWAY_CONNECTION && handle) borrow(server, handle as Socket, msg.id);
    if (msg?.type === GATEWAY_METRICS)
      process.send?.({ type: GATEWAY_METRICS, id: msg.id, payload: metrics.snapshot() });
  });
  process.send?.({ type: GATEWAY_READY });
  log.info({ services: names }, "gateway in the shared host");
  return { server, metrics };
}

/** Hands a request to the supervisor's gateway; it answers 503 itself when the supervisor cannot be reached. */
async function toSupervisor(req: IncomingMessage, res: ServerResponse, spec: HostGatewaySpec) {
  const outcome = await proxy(req, res, {
    port: 0,
    socketPath: spec.socket,
    path: req.url ?? "/",
    headers: { "x-forwarded-for": clientIp(req), "x-forwarded-proto": "http", host: req.headers.host ?? "" },
    bodyLimitBytes: Number.POSITIVE_INFINITY,
    timeoutMs: spec.config.upstreamTimeoutMs,
    toGateway: true,
  });
  if ("error" in outcome && outcome.error !== "client-closed" && !res.headersSent)
    fail(res, 503, "appliance unavailable", null, { "retry-after": "2" });
}

/**
 * Lets answers in flight finish (up to `graceMs`: a restart asked through this gateway answers 202 just before
 * the SIGTERM), then closes every connection. Idle keep-alive connections go back to the supervisor at once,
 * and so does each one whose answer finishes meanwhile: its gateway serves the client's next request.
 */
export async function drainHostGateway(server: Server, graceMs: number): Promise<void> {
  (server as Server & { [DRAINING]?: boolean })[DRAINING] = true;
  handBackIdle(server);
  const deadline = Date.now() + graceMs;
  while (inFlight(server) > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    handBackIdle(server);
  }
  server.closeAllConnections();
}

const IN_FLIGHT = Symbol("nexus.inFlight");
const DRAINING = Symbol("nexus.draining");
/** On a socket lent by the supervisor: its id there, and whether it was handed back. */
const LENT = Symbol("nexus.lent");
const CONNECTIONS = Symbol("nexus.connections");

type Lent = Socket & { [LENT]?: { id: number; back: boolean } };

/**
 * Serves a connection the supervisor lent (it keeps a paused copy): when this host closes it, the supervisor
 * is told, to close its copy too (or serve it, when handed back) — until then the client sees no FIN.
 */
function borrow(server: Server, socket: Socket, id: number | undefined): void {
  if (typeof id === "number") {
    const lent = socket as Lent;
    lent[LENT] = { id, back: false };
    socket.once("close", () => {
      if (process.connected) process.send?.({ type: GATEWAY_RELEASE, id, back: lent[LENT]!.back });
    });
  }
  server.emit("connection", socket);
}

/**
 * Hands the idle connections back to the supervisor: the ones node's closeIdleConnections() would close,
 * i.e. no byte of a next request parsed yet; what the client sends from now on waits in the kernel for the
 * supervisor's gateway. A connection the supervisor did not lend is closed as before.
 */
function handBackIdle(server: Server): void {
  const originals = new Map<Socket, Socket["destroy"]>();
  // closeIdleConnections picks the sockets (from node's own parser state) and destroys each one.
  for (const c of connections(server)) {
    const lent = c as Lent;
    if (!lent[LENT]) continue;
    originals.set(c, c.destroy);
    c.destroy = function (this: Lent, err?: Error) {
      // An answer still queued here (a slow reader) would be cut mid-way: that connection closes as before.
      if (!err && this.writableLength === 0) this[LENT]!.back = true;
      return originals.get(this)!.call(this, err);
    };
  }
  try {
    server.closeIdleConnections();
  } finally {
    for (const [c, destroy] of originals) c.destroy = destroy;
  }
}

/** The connections a server holds (node keeps no public list: tracked on 'connection'). */
function connections(server: Server): Set<Socket> {
  const s = server as Server & { [CONNECTIONS]?: Set<Socket> };
  if (!s[CONNECTIONS]) {
    const all = new Set<Socket>();
    s[CONNECTIONS] = all;
    server.on("connection", (socket: Socket) => {
      all.add(socket);
      socket.once("close", () => all.delete(socket));
    });
  }
  return s[CONNECTIONS];
}

/** Counts requests whose answer has not finished, for drainHostGateway. */
function countInFlight(server: Server): void {
  const s = server as Server & { [IN_FLIGHT]?: number; [DRAINING]?: boolean };
  s[IN_FLIGHT] = 0;
  connections(server);
  server.on("request", (_req, res: ServerResponse) => {
    // While draining, no answer invites the client to send another request on this connection.
    if (s[DRAINING]) res.shouldKeepAlive = false;
    s[IN_FLIGHT]!++;
    // `on`, not `once`: 'close' comes once per response, and this runs on every request.
    res.on("close", () => {
      s[IN_FLIGHT]!--;
    });
  });
}

function inFlight(server: Server): number {
  return (server as Server & { [IN_FLIGHT]?: number })[IN_FLIGHT] ?? 0;
}

/** What the in-process path needs of a Hono app. */
interface FetchApp {
  fetch: (req: Request, env?: object) => Response | Promise<Response>;
}

/** Wraps a service's Hono app for `dispatchLocal` (gateway/in-process.ts). */
function localApp(app: FetchApp): LocalApp {
  return getRequestListener(app.fetch) as LocalApp;
}
