/**
 * The in-process path of shared isolation: a checked request goes straight to the service's Hono app in this
 * process (`app.fetch` through @hono/node-server's listener, the same adapter the service's own port uses),
 * instead of over a second HTTP hop. It keeps the proxy's contract (proxy.ts): the service sees the same
 * headers (credentials and client-set trusted headers dropped, the gateway's added), a streamed body is cut
 * off at the limit, a service that does not start answering in time gets 504, a client that leaves aborts
 * the request, and services' own CORS headers never reach the client.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { hasNoBody, tapBody } from "./body-tap.js";
import { DROP_UPSTREAM, type ProxyOutcome } from "./proxy.js";

/** Set on a response while the gateway itself writes it (asGateway): the app's writes are blocked then. */
const GATEWAY_TURN = Symbol("nexus.gatewayTurn");

/**
 * Runs `write` (the gateway's own 413/504 answer) past the guard that keeps a refused app from writing.
 * Any response may be passed: without a guard it just runs.
 */
export function asGateway(res: ServerResponse, write: () => void): void {
  const r = res as ServerResponse & { [GATEWAY_TURN]?: boolean };
  r[GATEWAY_TURN] = true;
  try {
    write();
  } finally {
    r[GATEWAY_TURN] = false;
  }
}

/** A service's app as a node request handler. */
export type LocalApp = (req: IncomingMessage, res: ServerResponse) => Promise<unknown>;

export interface LocalOptions {
  /** The path and query string at the service. */
  path: string;
  headers: Record<string, string>;
  bodyLimitBytes: number;
  /** How long the service may take to start its answer. */
  timeoutMs: number;
}

/**
 * One in-process request: whether the gateway answers for the app (body over the limit, timeout), and the one
 * promise `dispatchLocal` waits on, settled by whichever comes first: the app's end or a refusal (one promise,
 * not a `Promise.race` of two: this runs on every request).
 */
class LocalRun {
  refused: ProxyOutcome | null = null;
  failed = false;
  wake!: () => void;
  readonly settled: Promise<void>;

  constructor(
    readonly res: ServerResponse,
    /** The response's own writeHead, called by the guard. */
    readonly writeHead: ServerResponse["writeHead"],
  ) {
    this.settled = new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  /** The gateway answers instead of the app; whatever the app still writes goes nowhere. */
  answerFirst(outcome: ProxyOutcome): void {
    if (this.refused) return;
    this.refused = outcome;
    this.res.on("error", ignore);
    this.wake();
  }

  /** The app threw or rejected: unavailable, unless the gateway already answered. */
  fail(): void {
    this.failed = true;
    this.wake();
  }
}

const RUN = Symbol("nexus.localRun");
type Guarded = ServerResponse & { [GATEWAY_TURN]?: boolean; [RUN]?: LocalRun };

function ignore() {}

function onTimeout(run: LocalRun) {
  if (!run.res.headersSent) run.answerFirst({ error: "timeout" });
}

/** Hands `req` to the service's app in this process and resolves with what became of it. Never throws. */
export async function dispatchLocal(
  req: IncomingMessage,
  res: ServerResponse,
  app: LocalApp,
  opts: LocalOptions,
): Promise<ProxyOutcome> {
  rewriteRequest(req, opts);
  const run = new LocalRun(res, res.writeHead);
  const guarded = res as Guarded;
  guarded[RUN] = run;
  guarded.writeHead = guardedWriteHead as ServerResponse["writeHead"];
  if (!hasNoBody(req)) countBody(req, opts.bodyLimitBytes, run);
  const timer = setTimeout(onTimeout, opts.timeoutMs, run);
  // A refusal decided while the app runs is reported at once, so the gateway answers 413/504 itself.
  try {
    app(req, res).then(
      () => run.wake(),
      () => run.fail(),
    );
  } catch {
    run.fail();
  }
  await run.settled;
  clearTimeout(timer);
  if (run.refused) return run.refused;
  if (run.failed) return { error: "unavailable" };
  if (!res.writableFinished && res.destroyed) return { error: "client-closed" };
  return { status: res.statusCode };
}

/** The request as the service sees it: its own path, the proxy's header rules, a fixed loopback Host. */
function rewriteRequest(req: IncomingMessage, opts: LocalOptions) {
  const headers: Record<string, string | string[]> = { host: "127.0.0.1" };
  const raw: string[] = ["host", "127.0.0.1"];
  const inbound = req.headers;
  for (const k in inbound) {
    const v = inbound[k];
    if (v === undefined || DROP_UPSTREAM.has(k) || k.startsWith("x-forwarded-") || k in opts.headers)
      continue;
    headers[k] = v;
    if (typeof v === "string") raw.push(k, v);
    else for (const one of v) raw.push(k, one);
  }
  for (const k in opts.headers) {
    const v = opts.headers[k] as string;
    headers[k] = v;
    raw.push(k, v);
  }
  // Keep transfer-encoding for the body reader: the proxy drops it because node sets its own upstream.
  const te = inbound["transfer-encoding"];
  if (te !== undefined) {
    headers["transfer-encoding"] = te;
    raw.push("transfer-encoding", te);
  }
  req.headers = headers as IncomingMessage["headers"];
  req.rawHeaders = raw;
  req.url = opts.path;
}

/**
 * Counts body bytes as node's parser pushes them, without consuming the stream (the app reads it). Over the
 * limit, no more bytes reach the app and the gateway answers 413 (and closes the connection).
 */
function countBody(req: IncomingMessage, limit: number, run: LocalRun) {
  if (req.complete && req.readableLength === 0) return;
  let received = 0;
  tapBody(req, (chunk) => {
    if (chunk === null) return true;
    received += chunk.length;
    if (received <= limit) return true;
    run.answerFirst({ error: "body-too-large" });
    return false;
  });
}

/**
 * The response's writeHead while the app answers: the service's headers filtered as the proxy does (no
 * `access-control-*`, the gateway's `Vary` kept), and nothing once the gateway answered for the app.
 */
function guardedWriteHead(this: Guarded, status: number, ...rest: unknown[]) {
  const run = this[RUN]!;
  if (this[GATEWAY_TURN]) return run.writeHead.call(this, status, ...(rest as [OutgoingHttpHeaders]));
  if (run.refused) return this;
  // writeHead(status, headers) or writeHead(status, message, headers); the adapter uses the first.
  const headers = (typeof rest[0] === "object" ? rest[0] : rest[1]) as OutgoingHttpHeaders | undefined;
  if (headers && !Array.isArray(headers)) filterHeaders(this, headers);
  return run.writeHead.call(this, status, headers as OutgoingHttpHeaders);
}

/** Drops the app's `access-control-*` headers and appends its `Vary` to the gateway's. */
function filterHeaders(res: ServerResponse, headers: OutgoingHttpHeaders) {
  let theirVary: string | undefined;
  for (const k in headers) {
    // Cheap first-letter test: most names start with neither "a" nor "v".
    const c = k.charCodeAt(0) | 0x20;
    if (c === 0x61 && k.length > 15 && k.toLowerCase().startsWith("access-control-")) delete headers[k];
    else if (c === 0x76 && k.length === 4 && k.toLowerCase() === "vary") theirVary = k;
  }
  if (theirVary === undefined) return;
  const ownVary = res.getHeader("vary");
  if (ownVary === undefined) return;
  const theirs = headers[theirVary];
  delete headers[theirVary];
  headers.vary = `${String(ownVary)}, ${String(theirs)}`;
}
