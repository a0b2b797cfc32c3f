/**
 * One error shape on the wire: `{ status, message, data }`.
 * Every 4xx/5xx the appliance returns, from the gateway or a service, uses it.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { isDiskFullError } from "./disk.js";

export interface ErrorBody {
  status: number;
  message: string;
  data: unknown;
}

/** An error meant for the caller: its status and message go on the wire as they are. */
export class ApiError extends HTTPException {
  readonly data: unknown;
  constructor(status: ContentfulStatusCode, message: string, data: unknown = null) {
    super(status, { message });
    this.data = data;
  }
}

/** Builds the wire body for an error. */
export function errorBody(status: number, message: string, data: unknown = null): ErrorBody {
  return { status, message, data };
}

/** Hono `onError` handler: ApiError/HTTPException keep their status; anything else is a 500 without details. */
export function renderError(err: Error, c: Context, log?: { error: (o: object, m: string) => void }) {
  if (err instanceof ApiError) {
    return c.json(errorBody(err.status, err.message, err.data), err.status);
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    return c.json(errorBody(status, err.message || "request failed"), status);
  }
  if (isDiskFullError(err)) {
    // The transaction rolled back: nothing was stored, and the caller may retry once space is freed.
    log?.error({ err: err.message }, "disk full");
    return c.json(errorBody(507, "the box's disk is full; nothing was stored", { reason: "disk-full" }), 507);
  }
  log?.error({ err }, "unhandled error");
  return c.json(errorBody(500, "internal error"), 500);
}
