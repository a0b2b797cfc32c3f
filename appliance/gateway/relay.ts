/**
 * The proxy's path for requests without a body (most API calls): undici's `Pool.dispatch` instead of node:http's
 * `ClientRequest`/`IncomingMessage`, so the hop builds no client-side streams per request. The answer is
 * written to the client as it comes (`res.write` per chunk, the service paused while the client is behind);
 * the contract is proxy.ts's: a timeout or an unreachable service before the answer started is an outcome for
 * the gateway to answer, after it the client's connection is cut; a client that leaves aborts the request.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { type Dispatcher, Pool } from "undici";
import { downstreamHeaders, type ProxyOptions, type ProxyOutcome, upstreamHeaders } from "./proxy-common.js";

/** One keep-alive pool per upstream (a unix socket or a loopback port), as node's agent kept one per address. */
const pools = new Map<string, Pool>();

function poolFor(opts: ProxyOptions): Pool {
  const key = opts.socketPath ?? `127.0.0.1:${opts.port}`;
  let pool = pools.get(key);
  if (!pool) {
    pool = opts.socketPath
      ? new Pool("http://localhost", { socketPath: opts.socketPath, connections: 256 })
      : new Pool(`http://${key}`, { connections: 256 });
    pools.set(key, pool);
  }
  return pool;
}

const TIMEOUTS = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);
const CLIENT_LEFT = new Error("client closed the connection");

/** One request's relay: a class, not closures, as it runs on every request. */
class Relay implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private status = 0;
  private settled = false;
  private clientGone = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly keepCors: boolean,
    private readonly resolve: (o: ProxyOutcome) => void,
  ) {
    res.once("close", () => this.onClientClose());
  }

  private finish(o: ProxyOutcome) {
    if (this.settled) return;
    this.settled = true;
    this.resolve(o);
  }

  private onClientClose() {
    if (this.settled || this.res.writableFinished) return;
    this.clientGone = true;
    this.controller?.abort(CLIENT_LEFT);
    this.finish({ error: "client-closed" });
  }

  onRequestStart(controller: Dispatcher.DispatchController) {
    this.controller = controller;
    // The client left while the request waited for a connection.
    if (this.clientGone) controller.abort(CLIENT_LEFT);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders) {
    if (statusCode < 200 || this.settled) return;
    this.status = statusCode;
    this.res.writeHead(statusCode, downstreamHeaders(headers, this.res, this.keepCors));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer) {
    if (this.settled) return;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once("drain", () => controller.resume());
    }
  }

  onResponseEnd() {
    if (this.settled) return;
    this.res.end();
    this.finish({ status: this.status });
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error) {
    if (this.settled) return;
    if (this.status === 0) {
      const code = (err as Error & { code?: string }).code ?? "";
      return this.finish({ error: TIMEOUTS.has(code) ? "timeout" : "unavailable" });
    }
    // The answer started and was cut short: closing the client's connection is the only way to tell it.
    this.res.destroy();
    this.finish({ status: this.status });
  }
}

/** Relays a request that has no body (its head says so) to the service and the answer back. Never throws. */
export function relayBodiless(req: IncomingMessage, res: ServerResponse, opts: ProxyOptions): Promise<ProxyOutcome> {
  return new Promise((resolve) => {
    // Node emits `end` only once the (empty) body was read.
    req.resume();
    poolFor(opts).dispatch(
      {
        method: req.method ?? "GET",
        path: opts.path,
        headers: upstreamHeaders(req.headers, opts),
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
      },
      new Relay(res, opts.toGateway === true, resolve),
    );
  });
}
