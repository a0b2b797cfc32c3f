/** Reading a Hono request for the files routes: the raw pieces that the plain functions behind them take. */
import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { ApiError } from "../../appliance/kit/index.js";

/** The percent-encoded path after `/<marker>/` in the request URL. */
export function pathAfter(c: Context, marker: string): string {
  const pathname = new URL(c.req.url).pathname;
  const at = pathname.indexOf(`/${marker}/`);
  return at === -1 ? "" : pathname.slice(at + marker.length + 2);
}

/** The node request behind `c`, to stream its body (500 outside the node server). */
export function incomingOf(c: Context): IncomingMessage {
  const incoming = (c.env as { incoming?: IncomingMessage }).incoming;
  if (!incoming) throw new ApiError(500, "uploads need the node server");
  return incoming;
}
