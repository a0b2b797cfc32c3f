/**
 * Watching a request body without reading it. A `data` listener would switch the stream to flowing mode and
 * lose every chunk that arrives before the real reader attaches (the in-process path hands the request to an
 * app that starts reading later), so taps sit where node's parser pushes chunks in instead.
 */
import type { IncomingMessage } from "node:http";

/** Sees each chunk (null: the end) before the stream does; returning false drops it and every later one. */
export type BodyTap = (chunk: Buffer | null) => boolean;

const TAPS = Symbol("nexus.bodyTaps");

type Tapped = IncomingMessage & { [TAPS]?: BodyTap[] };

/** Adds `tap` to `req`'s body. */
export function tapBody(req: IncomingMessage, tap: BodyTap): void {
  const r = req as Tapped;
  const taps = r[TAPS];
  if (taps) {
    taps.push(tap);
    return;
  }
  const list: BodyTap[] = [tap];
  r[TAPS] = list;
  let cut = false;
  const push = req.push.bind(req);
  req.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (cut) return false;
    for (const t of list) {
      if (!t((chunk ?? null) as Buffer | null)) {
        cut = true;
        return false;
      }
    }
    return push(chunk, encoding);
  };
}

/**
 * A request whose head says it has no body (no transfer-encoding; no content-length, or 0). Node marks such a
 * request `complete` only after the request handler ran, so `req.complete` cannot tell yet.
 */
export function hasNoBody(req: IncomingMessage): boolean {
  const h = req.headers;
  if (h["transfer-encoding"] !== undefined) return false;
  const length = h["content-length"];
  return length === undefined || length === "0";
}
