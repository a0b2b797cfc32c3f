/** Reading a Hono request for the files routes: the raw pieces that the plain functions behind them take. */
import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { ApiError, requireCaller } from "../../appliance/kit/index.js";
import { parsePath, parseUrlPath } from "./names.js";
import type { AppendRequest } from "./uploads.js";

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

/** A PATCH as uploads.ts takes it: the caller, `Upload-Offset` (unless the protocol gives one), length, body. */
export function appendRequestOf(
  c: Context,
  id: string,
  offset = Number(c.req.header("upload-offset")),
): AppendRequest {
  return {
    caller: requireCaller(c),
    id,
    offset,
    contentLength: c.req.header("content-length"),
    body: () => incomingOf(c),
  };
}

/** Runs `work`; a refusal that knows the upload's confirmed offset (`data.offset`) also sends it as a header. */
export async function withUploadOffset<T>(c: Context, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    const offset = err instanceof ApiError ? (err.data as { offset?: unknown } | null)?.offset : undefined;
    if (typeof offset === "number") c.header("upload-offset", String(offset));
    throw err;
  }
}
