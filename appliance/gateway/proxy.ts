/**
 * Forwards one request to a service (its unix socket, or its loopback port) over a keep-alive pool, streaming
 * both bodies. The upstream client is undici's `Pool.dispatch`, not node:http: it builds no ClientRequest /
 * IncomingMessage streams per request, which was most of the hop's own CPU (docs/benchmarks.md, "Gateway
 * overhead"). Either side going away ends the other: a response the service cut short closes the client's
 * connection, and a client that left aborts the request to the service.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { PassThrough } from "node:stream";
import type { Dispatcher, Pool } from "undici";
import { hasNoBody } from "./body-tap.js";
import { downstreamHeaders, type ProxyOptions, type ProxyOutcome, upstreamHeaders } from "./proxy-common.js";

export {
  CREDENTIAL_HEADERS,
  DROP_UPSTREAM,
  HOP_BY_HOP,
  type ProxyError,
  type ProxyOptions,
  type ProxyOutcome,
  TRUSTED_HEADERS,
} from "./proxy-common.js";

/** One keep-alive pool per upstream (a unix socket or a loopback port), as node's agent kept one per address. */
const pools = new Map<string, Pool>();

/**
 * undici is loaded with the first proxied request, not with the gateway: an idle supervisor in shared mode never
 * proxies (docs/benchmarks.md, "Footprint": undici alone is ~10 MB and ~70 ms of start-up).
 */
let PoolClass: typeof Pool | null = null;
async function loadUndici(): Promise<void> {
  PoolClass = (await import("undici")).Pool;
}

function poolFor(opts: ProxyOptions): Pool {
  const key = opts.socketPath ?? `127.0.0.1:${opts.port}`;
  let pool = pools.get(key);
  if (!pool) {
    pool = opts.socketPath
      ? new PoolClass!("http://localhost", { socketPath: opts.socketPath, connections: 256 })
      : new PoolClass!(`http://${key}`, { connections: 256 });
    pools.set(key, pool);
  }
  return pool;
}

const TIMEOUTS = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);
const CLIENT_LEFT = new Error("client closed the connection");
const TOO_LARGE = new Error("request body over the limit");
const ignore = () => undefined;

/** One request on its way: undici's handler for the answer, and the request body's feed. A class, not closures. */
class Relay implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  /** The request body as undici reads it; not `req` itself, which undici would destroy on an early answer. */
  private body: PassThrough | null = null;
  private status = 0;
  private settled = false;
  private abortWith: Error | null = null;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly keepCors: boolean,
    private readonly resolve: (o: ProxyOutcome) => void,
  ) {
    res.once("close", () => this.onClientClose());
  }

  /** Streams the client's body, refused past `limit` bytes. */
  feed(limit: number): PassThrough {
    const body = new PassThrough();
    // undici may destroy the feed with its error after the request failed; that failure reaches
    // onResponseError, and an unheard `error` event would take the supervisor down.
    body.on("error", ignore);
    this.body = body;
    let received = 0;
    this.req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit && !this.settled) {
        // Settled first: the abort below reports back (onResponseError), possibly at once.
        this.finish({ error: "body-too-large" });
        this.stopFeeding();
        this.abort(TOO_LARGE);
      }
    });
    this.req.pipe(body);
    return body;
  }

  private stopFeeding() {
    if (!this.body) return;
    this.req.unpipe(this.body);
    this.body.destroy();
  }

  private abort(err: Error) {
    this.abortWith = err;
    this.controller?.abort(err);
  }

  private finish(o: ProxyOutcome) {
    if (this.settled) return;
    this.settled = true;
    this.resolve(o);
  }

  private onClientClose() {
    if (this.settled || this.res.writableFinished) return;
    this.finish({ error: "client-closed" });
    this.stopFeeding();
    this.abort(CLIENT_LEFT);
  }

  onRequestStart(controller: Dispatcher.DispatchController) {
    this.controller = controller;
    // Refused (client gone, body too large) while the request waited for a connection.
    if (this.abortWith) controller.abort(this.abortWith);
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
    // Answered before the whole body arrived (an upload refused early): stop feeding the service; the rest of
    // the client's body is read and dropped (see lingerAfterEarlyAnswer in api-route.ts). Unpiped, the request
    // is paused and node would not drain it: the linger would cut the socket and a client reusing it get
    // ECONNRESET.
    if (this.body && !this.req.complete) {
      this.stopFeeding();
      this.req.resume();
    }
    this.res.end();
    this.finish({ status: this.status });
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error) {
    if (this.settled) return;
    this.stopFeeding();
    if (this.status === 0) {
      const code = (err as Error & { code?: string }).code ?? "";
      return this.finish({ error: TIMEOUTS.has(code) ? "timeout" : "unavailable" });
    }
    // The answer started and was cut short: closing the client's connection is the only way to tell it.
    this.res.destroy();
    this.finish({ status: this.status });
  }
}

/** Streams `req` to the service and its response back to `res`. Never throws. */
export function proxy(req: IncomingMessage, res: ServerResponse, opts: ProxyOptions): Promise<ProxyOutcome> {
  if (!PoolClass) return loadUndici().then(() => proxy(req, res, opts));
  return new Promise((resolve) => {
    const relay = new Relay(req, res, opts.toGateway === true, resolve);
    // Most API calls carry no body: no stream to feed (node drains the empty body when the answer finishes).
    const body = hasNoBody(req) ? null : relay.feed(opts.bodyLimitBytes);
    poolFor(opts).dispatch(
      {
        method: req.method ?? "GET",
        path: opts.path,
        headers: upstreamHeaders(req.headers, opts),
        body,
        // Both reset whenever bytes move (the body going up included): an idle limit, as the socket timeout was.
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
      },
      relay,
    );
  });
}
