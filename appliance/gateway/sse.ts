/**
 * Server-Sent Events as a Hono answer (`streamSSE`). The stream ends when the client leaves or `close()` is
 * called (its `signal` aborts either way), and a comment line every 15 s keeps proxies and idle timers from
 * cutting a quiet stream. Writes wait for the client to take them, so a slow reader slows its stream down
 * instead of filling the gateway's memory.
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";

export interface SseStream {
  send(event: string, data: unknown): Promise<void>;
  close(): void;
  /** Aborts when the client disconnects or `close()` is called. */
  signal: AbortSignal;
}

const KEEPALIVE_MS = 15_000;

/** Answers with an event stream; `run` starts it and the stream stays open until its signal aborts. */
export function sseResponse(c: Context, run: (sse: SseStream) => void | Promise<void>): Response {
  const ac = new AbortController();
  const res = streamSSE(c, async (stream) => {
    stream.onAbort(() => ac.abort());
    const keepalive = setInterval(() => void stream.write(": keepalive\n\n"), KEEPALIVE_MS);
    const sse: SseStream = {
      send: async (event, data) => {
        if (!ac.signal.aborted) await stream.writeSSE({ event, data: JSON.stringify(data) });
      },
      close: () => ac.abort(),
      signal: ac.signal,
    };
    try {
      await run(sse);
      if (!ac.signal.aborted)
        await new Promise((r) => ac.signal.addEventListener("abort", r, { once: true }));
    } catch {
      // A failed reading ends the stream; the client reconnects.
    } finally {
      clearInterval(keepalive);
      ac.abort();
    }
  });
  res.headers.set("content-type", "text/event-stream; charset=utf-8");
  res.headers.set("cache-control", "no-store");
  res.headers.set("x-accel-buffering", "no");
  return res;
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
