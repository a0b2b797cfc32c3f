/**
 * The public port in shared isolation. The supervisor keeps listening (so the port never changes and never
 * closes, restarts included) and hands each new connection to the shared host over IPC, where the gateway
 * runs next to the services and calls them in-process (host/gateway.ts). While the host is down or not
 * ready yet, the supervisor's own gateway serves the connection: the proxy path, 503 for the services until
 * the host is back. The host's gateway hands what it does not serve itself (the appliance API, console,
 * /metrics, …) to the supervisor's gateway on `privateSocket`, an owner-only unix socket in the data dir.
 * Costs two IPC messages per connection (the descriptor, its release), none per request (keep-alive).
 *
 * The supervisor keeps its own copy of every socket it lends (paused, never read), so the connection outlives
 * the host: when the host restarts, it hands each idle keep-alive connection back (at a request boundary, no
 * byte of the next request read) and the supervisor's gateway goes on serving it. Closing an idle keep-alive
 * connection instead would race a client's next request on it ("other side closed", a reset); HTTP clients
 * do not retry a POST. A connection the host ends itself is released and the supervisor closes its copy.
 */
import type { ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import net from "node:net";
import { dirname } from "node:path";
import { GATEWAY_CONNECTION, GATEWAY_RELEASE } from "../host/gateway-ipc.js";
import type { Logger } from "../kit/index.js";
import type { ServiceStatus } from "../supervisor/status.js";
import { SHARED_UNIT } from "../supervisor/units.js";

export interface SharedFront {
  /** The public listener (plain TCP; connections are parsed by whichever gateway gets them). */
  server: net.Server;
  /** Stops both listeners and ends the connections the supervisor's gateway holds. */
  close(): Promise<void>;
}

/**
 * Creates the public listener in front of `gateway` (the supervisor's, not listening itself) and starts the
 * private one on `privateSocket`. `host()` is the shared host to hand connections to, or null.
 */
export async function startSharedFront(
  gateway: Server,
  inner: Server,
  privateSocket: string,
  host: () => ChildProcess | null,
): Promise<SharedFront> {
  // The supervisor's gateway never listens itself: 'listening' starts node's sweep of headers and request
  // timeouts for the connections it is given; closing them at stop is done here.
  gateway.emit("listening");
  const here = new Set<net.Socket>();
  const serveHere = (socket: net.Socket) => {
    here.add(socket);
    socket.once("close", () => here.delete(socket));
    gateway.emit("connection", socket);
    socket.resume();
  };
  const lent = lender(serveHere);
  // noDelay as node:http sets it on its own connections: without it a response written in two pieces waits
  // for the client's delayed ACK (Nagle), tens of milliseconds.
  const server = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
    const child = host();
    if (!child) return serveHere(socket);
    lent.lend(child, socket);
  });
  mkdirSync(dirname(privateSocket), { recursive: true, mode: 0o700 });
  rmSync(privateSocket, { force: true });
  await new Promise<void>((resolve, reject) => {
    inner.once("error", reject);
    inner.listen(privateSocket, () => {
      inner.off("error", reject);
      resolve();
    });
  });
  chmodSync(privateSocket, 0o600);
  const close = async () => {
    const closed = (s: net.Server) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r()));
    const done = Promise.all([closed(server), closed(inner)]);
    for (const socket of here) socket.destroy();
    lent.closeAll();
    inner.closeAllConnections();
    await done;
    rmSync(privateSocket, { force: true });
  };
  return { server, close };
}

/**
 * The sockets lent to shared hosts, by id: sent with `keepOpen` (the supervisor's copy stays open and paused),
 * and served here or closed when the host releases them. When a host exits, what it still held is closed: its
 * state (half a request read?) is unknown.
 */
function lender(serveHere: (socket: net.Socket) => void) {
  const lent = new Map<number, { socket: net.Socket; child: ChildProcess }>();
  const hooked = new WeakSet<ChildProcess>();
  let nextId = 1;
  const release = (id: number, back: boolean) => {
    const entry = lent.get(id);
    if (!entry) return;
    lent.delete(id);
    if (back && !entry.socket.destroyed) serveHere(entry.socket);
    else entry.socket.destroy();
  };
  const hook = (child: ChildProcess) => {
    if (hooked.has(child)) return;
    hooked.add(child);
    child.on("message", (msg: { type?: string; id?: number; back?: boolean } | null) => {
      if (msg?.type === GATEWAY_RELEASE && typeof msg.id === "number") release(msg.id, msg.back === true);
    });
    child.once("exit", () => {
      for (const [id, entry] of lent) if (entry.child === child) release(id, false);
    });
  };
  return {
    lend(child: ChildProcess, socket: net.Socket) {
      hook(child);
      const id = nextId++;
      // Paused and never read here while lent; a reset still reports an error on it.
      socket.on("error", () => undefined);
      lent.set(id, { socket, child });
      child.send({ type: GATEWAY_CONNECTION, id }, socket, { keepOpen: true }, (err) => {
        // The host went away between the check and the send: the socket is still ours alone.
        if (err && lent.delete(id) && !socket.destroyed) serveHere(socket);
      });
    },
    closeAll() {
      for (const id of [...lent.keys()]) release(id, false);
    },
  };
}

/** What the appliance API calls on the supervisor (appliance-api.ts UnitControl). */
interface Units {
  status(): ServiceStatus[];
  restartUnit(unit: string): Promise<void>;
  stopUnit(unit: string): Promise<void>;
  startUnit(unit: string): void;
}

/**
 * The supervisor's unit actions for the appliance API in shared isolation. A restart of the shared host is
 * started after the answer left: the request came through that host's gateway, and waiting for the host to
 * go down first would cut the connection that carries the 202. (The host drains such answers on SIGTERM.)
 */
export function answerBeforeRestart(units: Units, log: Logger): Units {
  return {
    status: () => units.status(),
    startUnit: (unit) => units.startUnit(unit),
    stopUnit: (unit) => units.stopUnit(unit),
    restartUnit: async (unit) => {
      if (unit !== SHARED_UNIT) return units.restartUnit(unit);
      setImmediate(() => {
        units.restartUnit(unit).catch((err) => log.error({ err, unit }, "restart failed"));
      });
    },
  };
}
