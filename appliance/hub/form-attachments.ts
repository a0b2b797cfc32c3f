/**
 * Form attachments hub → boxes. The hub admin uploads a form's media or CSV into the hub's blob store
 * (`PUT /api/hub/forms/attachments/<sha256>`, admin token, verified against its sha256) and names it in the
 * form's record (`PUT /api/hub/data/forms/forms/<formId>:<version>` with `attachments: [{ name, sha256, size,
 * contentType }]`); each box fetches what it lacks with its site credentials
 * (`GET /api/hub/blobs/<sha256>/content`, in blobs.ts) before it publishes the version.
 */
import type { IncomingMessage } from "node:http";
import { Hono } from "hono";
import { ApiError } from "../kit/errors.js";
import { BlobIntegrityError, type BlobStore, isSha256 } from "../lib/blob-store.js";

/** Largest form attachment the hub takes (as a box's forms service: 100 MiB). */
export const MAX_FORM_ATTACHMENT = 100 * 1024 ** 2;

/** `PUT /api/hub/forms/attachments/:sha` for the hub admin. */
export function formAttachmentRoutes(store: BlobStore, admin: (header: string | undefined) => void) {
  const app = new Hono();
  app.put("/api/hub/forms/attachments/:sha", async (c) => {
    admin(c.req.header("authorization"));
    const sha = c.req.param("sha");
    if (!isSha256(sha))
      throw new ApiError(400, "an attachment is named by its sha256 (64 lower-case hex digits)");
    const size = Number(c.req.header("content-length"));
    if (!Number.isSafeInteger(size) || size < 0) throw new ApiError(411, "content-length required");
    if (size > MAX_FORM_ATTACHMENT)
      throw new ApiError(413, `a form attachment is at most ${MAX_FORM_ATTACHMENT} bytes`);
    const incoming = (c.env as { incoming?: IncomingMessage }).incoming;
    if (!incoming) throw new ApiError(500, "uploads need the node server");
    try {
      await store.put(sha, incoming, size);
    } catch (err) {
      if (err instanceof BlobIntegrityError)
        throw new ApiError(422, "the content does not match its sha256 (or its length); nothing stored");
      throw err;
    }
    return c.json({ sha256: sha, size }, 201);
  });
  return app;
}
