/**
 * Server-Sent Events on a node:http response. The stream ends when the client leaves (its `signal` aborts),
 * and a comment line every 15 s keeps proxies and idle timers from cutting a quiet stream.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export interface SseStream {
  send(event: string, data: unknown): void;
  close(): void;
  /** Aborts when the client disconnects or `close()` is called. */
  signal: AbortSignal;
}

const KEEPALIVE_MS = 15_000;

export function openSse(req: IncomingMessage, res: ServerResponse): SseStream {
  const ac = new AbortController();
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    "x-accel-buffering": "no",
    connection: "keep-alive",
  });
  res.flushHeaders();
  const keepalive = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
  const end = () => {
    if (ac.signal.aborted) return;
    clearInterval(keepalive);
    ac.abort();
    res.end();
  };
  req.socket.setTimeout(0);
  res.on("close", end);
  return {
    send: (event, data) => {
      if (!ac.signal.aborted) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    close: end,
    signal: ac.signal,
  };
}
