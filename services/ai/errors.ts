/** The AI service's errors as the project's one error shape; a full queue is a 429 with Retry-After. */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ApiError, errorBody } from "../../appliance/kit/index.js";
import { ManifestError } from "./manifest.js";
import { RegistryError } from "./models.js";
import { JobError, QueueFullError } from "./pool.js";

/** Runs `fn` and turns the service's own errors into answers. */
export async function answer(c: Context, fn: () => Promise<Response>): Promise<Response> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof QueueFullError) {
      return c.json(errorBody(429, err.message, { retryAfterS: err.retryAfterS }), 429, {
        "retry-after": String(err.retryAfterS),
      });
    }
    throw asApiError(err);
  }
}

/** Maps registry, pack, tensor and job errors to ApiErrors; anything else is left for the 500. */
export function asApiError(err: unknown): unknown {
  if (err instanceof ManifestError) return new ApiError(400, err.message);
  if (err instanceof RegistryError || err instanceof JobError)
    return new ApiError(err.status as ContentfulStatusCode, err.message);
  const status = (err as { status?: unknown }).status;
  if (
    err instanceof Error &&
    typeof status === "number" &&
    status >= 400 &&
    status < 500 &&
    !(err instanceof ApiError)
  )
    return new ApiError(status as ContentfulStatusCode, err.message);
  return err;
}
