/**
 * The in-process path of shared isolation: a checked request goes straight to the service's Hono app in this
 * process (`app.fetch` through @hono/node-server's listener, the same adapter the service's own port uses),
 * instead of over a second HTTP hop. It keeps the proxy's contract (proxy.ts): the service sees the same
 * headers (credentials and client-set trusted headers dropped, the gateway's added), a streamed body is cut
 * off at the limit, a service that does not start answering in time gets 504, a client that leaves aborts
 * the request, and services' own CORS headers never reach the client.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { tapBody } from "./body-tap.js";
import { DROP_UPSTREAM, type ProxyOutcome } from "./proxy.js";

/** Set on a response while the gateway itself writes it (asGateway): the app's writes are blocked then. */
const GATEWAY_TURN = Symbol("nexus.gatewayTurn");

type Guarded = ServerResponse & { [GATEWAY_TURN]?: boolean };

/**
 * Runs `write` (the gateway's own 413/504 answer) past the guard that keeps a refused app from writing.
 * Any response may be passed: without a guard it just runs.
 */
export function asGateway(res: ServerResponse, write: () => void): void {
  const r = res as Guarded;
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

/** Hands `req` to the service's app in this process and resolves with what became of it. Never throws. */
export async function dispatchLocal(
  req: IncomingMessage,
  res: ServerResponse,
  app: LocalApp,
  opts: LocalOptions,
): Promise<ProxyOutcome> {
  rewriteRequest(req, opts);
  let refused: ProxyOutcome | null = null;
  let wake!: () => void;
  const refusal = new Promise<void>((resolve) => {
    wake = resolve;
  });
  const answerFirst = (outcome: ProxyOutcome) => {
    if (refused) return;
    refused = outcome;
    // Whatever the app still writes goes nowhere: the gateway answers for it and closes the connection.
    res.on("error", () => undefined);
    wake();
  };
  guardResponse(res, () => refused !== null);
  countBody(req, opts.bodyLimitBytes, () => answerFirst({ error: "body-too-large" }));
  const timer = setTimeout(() => {
    if (!res.headersSent) answerFirst({ error: "timeout" });
  }, opts.timeoutMs);
  try {
    // A refusal decided while the app runs is reported at once, so the gateway answers 413/504 itself.
    await Promise.race([app(req, res), refusal]);
  } catch {
    refused ??= { error: "unavailable" };
  } finally {
    clearTimeout(timer);
  }
  if (refused) return refused;
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
 * limit, no more bytes reach the app and `over` is called; the gateway answers 413 and closes the connection.
 */
function countBody(req: IncomingMessage, limit: number, over: () => void) {
  if (req.complete && req.readableLength === 0) return;
  let received = 0;
  tapBody(req, (chunk) => {
    if (chunk === null) return true;
    received += chunk.length;
    if (received <= limit) return true;
    over();
    return false;
  });
}

/**
 * Filters the service's response headers as the proxy does (no `access-control-*`, the gateway's `Vary` kept),
 * and drops whatever the app writes once the gateway answered for it.
 */
function guardResponse(res: ServerResponse, answered: () => boolean) {
  const writeHead = res.writeHead;
  res.writeHead = function (this: Guarded, status: number, ...rest: unknown[]) {
    if (this[GATEWAY_TURN]) return writeHead.call(this, status, ...(rest as [OutgoingHttpHeaders]));
    if (answered()) return this;
    const headers = rest.find((r) => typeof r === "object" && r !== null) as OutgoingHttpHeaders | undefined;
    if (headers && !Array.isArray(headers)) {
      for (const k in headers) if (k.toLowerCase().startsWith("access-control-")) delete headers[k];
      const ownVary = this.getHeader("vary");
      const theirs = headers.vary ?? headers.Vary;
      if (ownVary !== undefined && theirs !== undefined) {
        delete headers.Vary;
        headers.vary = `${String(ownVary)}, ${String(theirs)}`;
      }
    }
    return writeHead.call(this, status, headers as OutgoingHttpHeaders);
  } as ServerResponse["writeHead"];
}
