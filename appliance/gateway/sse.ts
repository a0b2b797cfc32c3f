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

export interface StreamLimits {
  /** Open streams on the box at most. */
  max: number;
  /** Open streams per caller at most, so one caller cannot take the box's whole budget. */
  perUser: number;
}

/** A slot for one open stream, or which limit is full. */
export type StreamSlot = { release: () => void } | { full: "box" | "user"; limit: number };

/** Counts open streams for the box and per caller; each slot is released once, when its stream ends. */
export function streamBudget(limits: StreamLimits) {
  let total = 0;
  const byUser = new Map<string, number>();
  return {
    take(user: string): StreamSlot {
      const mine = byUser.get(user) ?? 0;
      if (mine >= limits.perUser) return { full: "user", limit: limits.perUser };
      if (total >= limits.max) return { full: "box", limit: limits.max };
      total++;
      byUser.set(user, mine + 1);
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          total--;
          const left = (byUser.get(user) ?? 1) - 1;
          if (left > 0) byUser.set(user, left);
          else byUser.delete(user);
        },
      };
    },
  };
}
