/** Reading a Hono request for the files routes: the raw pieces that the plain functions behind them take. */
import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { ApiError } from "../../appliance/kit/index.js";
import { parsePath, parseUrlPath } from "./names.js";

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

/**
 * The names a content or listing request addresses: the path after `/<marker>/` in the URL (each segment
 * percent-encoded), or the `path` query parameter (`a/b/c.txt`, plain text) when the URL ends at the marker —
 * the form generated clients use, since they encode `/` in a path parameter. Both at once is a 400.
 */
export function namesOf(c: Context, marker: string): string[] {
  const inUrl = pathAfter(c, marker);
  const inQuery = c.req.queries("path");
  if (inQuery === undefined) return parseUrlPath(inUrl);
  if (inUrl !== "" || inQuery.length > 1)
    throw new ApiError(400, "give the path once: in the URL or as ?path=");
  return inQuery[0] === "" ? [] : parsePath(inQuery[0]!);
}
