/**
 * 404 or 405 for a request no route took: when the path is a route for other methods, the answer is
 * `405` with `Allow` listing them (RFC 9110), else `404`; both in the one error shape.
 */
import type { Context, NotFoundHandler } from "hono";
import { pathMatches } from "./access.js";
import { errorBody } from "./errors.js";

interface RouteEntry {
  method: string;
  path: string;
}

/** The methods routes are declared for at `path` (middleware excluded); HEAD goes with GET. */
export function allowedMethods(routes: readonly RouteEntry[], path: string): string[] {
  const found = new Set<string>();
  for (const r of routes)
    if (r.method !== "ALL" && pathMatches(r.path, path)) found.add(r.method.toUpperCase());
  if (found.has("GET")) found.add("HEAD");
  return [...found].sort();
}

/** A `notFound` handler for `app`: 405 with `Allow` when the path exists for other methods, else 404. */
export function notFoundOr405(app: { routes: readonly RouteEntry[] }): NotFoundHandler {
  return (c: Context) => {
    const allow = allowedMethods(app.routes, c.req.path);
    if (allow.length) {
      c.header("allow", allow.join(", "));
      return c.json(errorBody(405, "method not allowed", { allow }), 405);
    }
    return c.json(errorBody(404, "no such route", { path: c.req.path }), 404);
  };
}
