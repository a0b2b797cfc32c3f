/**
 * tus 1.0.0 at `/tus` (creation, creation-with-upload, termination, checksum, expiration) over the same
 * resumable uploads as `/uploads`: one table, one staging file, one commit. So every guarantee holds here too:
 * bytes are fsynced before their offset is recorded and acknowledged, the size is reserved against the quota
 * in the creating transaction, a crash loses only unacknowledged bytes, and a committed upload's outcome is
 * kept (HEAD shows Upload-Offset = Upload-Length) for a client whose last answer was lost. Every answer,
 * errors included, carries Tus-Resumable.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, Next } from "hono";
import { z } from "zod";
import {
  ApiError,
  binaryContent,
  type Caller,
  documentRoute,
  requireCaller,
} from "../../appliance/kit/index.js";
import { appendRequestOf, withUploadOffset } from "./http.js";
import * as s from "./schemas.js";
import type { Ctx, Files } from "./state.js";
import * as tus from "./tus.js";
import {
  type AppendResult,
  appendUpload,
  cancelUpload,
  createUpload,
  ownUpload,
  uploadRow,
  uploadStatus,
} from "./uploads.js";

/** Where an upload lives: an absolute path on the gateway, which tus clients resolve against the endpoint. */
const locationOf = (id: string) => `/api/files/tus/${id}`;

export function tusRoutes(app: OpenAPIHono, ctx: Ctx, files: () => Files) {
  app.use("/tus", tusHeaders);
  app.use("/tus/*", tusHeaders);
  app.options("/tus", (c) => discovery(c, ctx));
  app.options("/tus/:id", (c) => discovery(c, ctx));
  app.post("/tus", (c) => create(c, ctx, files()));
  app.get("/tus/:id", (c) => head(c, ctx, idOf(c))); // HEAD is answered by GET's route, without the body
  app.patch("/tus/:id", (c) => {
    if (!isOffsetStream(c)) throw new ApiError(415, `PATCH takes Content-Type: ${tus.OFFSET_STREAM}`);
    return appendChunk(c, ctx, files(), idOf(c));
  });
  app.delete("/tus/:id", async (c) => {
    await cancelUpload(ctx, files(), ownUpload(ctx, requireCaller(c), idOf(c)));
    return c.body(null, 204);
  });
  documentTus(app);
}

/** Tus-Resumable on every answer; 412 with Tus-Version for a request in another version (OPTIONS is exempt). */
async function tusHeaders(c: Context, next: Next) {
  c.header("tus-resumable", tus.TUS_VERSION);
  if (c.req.method !== "OPTIONS" && !tus.speaksTus(c.req.header("tus-resumable"))) {
    c.header("tus-version", tus.TUS_VERSION);
    throw new ApiError(412, `this server speaks tus ${tus.TUS_VERSION} (send Tus-Resumable: 1.0.0)`, {
      versions: [tus.TUS_VERSION],
    });
  }
  await next();
}

function discovery(c: Context, ctx: Ctx) {
  c.header("tus-version", tus.TUS_VERSION);
  c.header("tus-extension", tus.TUS_EXTENSIONS);
  c.header("tus-max-size", String(ctx.config.maxFileBytes));
  c.header("tus-checksum-algorithm", tus.TUS_CHECKSUM_ALGORITHMS);
  return c.body(null, 204);
}

function idOf(c: Context): string {
  const id = s.idParam.safeParse({ id: c.req.param("id") });
  if (!id.success) throw new ApiError(404, "no such upload");
  return id.data.id;
}

const isOffsetStream = (c: Context) =>
  c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase() === tus.OFFSET_STREAM;

/**
 * Appends a chunk: its Upload-Checksum verified before the bytes count, then 204 (201 at creation) with the new
 * offset and expiry. At creation (offset 0) a body cut short is refused whole: its client never got the
 * Location to resume it.
 */
async function appendChunk(c: Context, ctx: Ctx, f: Files, id: string, creating = false) {
  const checksum = tus.parseChecksum(c.req.header("upload-checksum"));
  const req = appendRequestOf(c, id, creating ? 0 : undefined);
  req.verify = async (file, chunk) => {
    if (creating && !chunk.complete) throw new ApiError(400, "the body ended early; nothing was kept");
    if (checksum) await tus.verifyChunk(file, chunk, checksum);
  };
  const r: AppendResult = await withUploadOffset(c, appendUpload(ctx, f, req));
  c.header("upload-offset", String(r.offset));
  const live = uploadRow(ctx, id);
  if (live) c.header("upload-expires", tus.httpDate(live.expires_at));
  return c.body(null, creating ? 201 : 204);
}

/** POST: creates an upload from Upload-Length and Upload-Metadata; a body (creation-with-upload) is its start. */
async function create(c: Context, ctx: Ctx, f: Files) {
  const caller = requireCaller(c);
  const size = tus.parseUploadLength(c.req.header("upload-length"), c.req.header("upload-defer-length"));
  if (size > f.config.maxFileBytes)
    throw new ApiError(413, `a file is at most ${f.config.maxFileBytes} bytes`);
  const target = tus.targetOf(c.req.header("upload-metadata"));
  const withBody = isOffsetStream(c);
  if (!withBody && Number(c.req.header("content-length") ?? 0) > 0)
    throw new ApiError(415, `a body at creation needs Content-Type: ${tus.OFFSET_STREAM}`);
  const withChunk = withBody || size === 0;
  if (withChunk) tus.parseChecksum(c.req.header("upload-checksum")); // a bad header refuses before creating
  const u = await createOrQuota(ctx, f, caller, { ...target, size });
  c.header("location", locationOf(u.id));
  c.header("upload-expires", tus.httpDate(u.expires_at));
  if (!withChunk) {
    c.header("upload-offset", "0");
    return c.body(null, 201);
  }
  // An empty file is complete at once (tus clients send no PATCH for it); otherwise the body is the first chunk.
  try {
    return await appendChunk(c, ctx, f, u.id, true);
  } catch (err) {
    // The client never learns this upload's Location from a refusal: drop it rather than hold its reservation.
    const left = uploadRow(ctx, u.id);
    if (left && left.received === 0) {
      await cancelUpload(ctx, f, left).catch(() => undefined);
      c.header("location", undefined);
      c.header("upload-expires", undefined);
    }
    throw err;
  }
}

/**
 * createUpload, with the quota refusal as 413 instead of the files API's 507: tus clients retry 5xx answers,
 * and a full quota does not empty itself. `data` is the same (`reason: "quota"`).
 */
async function createOrQuota(ctx: Ctx, f: Files, caller: Caller, input: Parameters<typeof createUpload>[3]) {
  try {
    return await createUpload(ctx, f, caller, input);
  } catch (err) {
    if (err instanceof ApiError && (err.data as { reason?: string } | null)?.reason === "quota")
      throw new ApiError(413, err.message, err.data);
    throw err;
  }
}

/** HEAD: the confirmed offset (a committed upload: its full size), never cached. */
function head(c: Context, ctx: Ctx, id: string) {
  c.header("cache-control", "no-store");
  const caller = requireCaller(c);
  const st = uploadStatus(ctx, caller, id);
  const u = st.body.upload;
  c.header("upload-offset", String(st.offset));
  c.header("upload-length", String(st.size));
  c.header("upload-metadata", tus.encodeMetadata({ space: u.space, path: u.path, filetype: u.contentType }));
  const live = uploadRow(ctx, id);
  if (live) c.header("upload-expires", tus.httpDate(live.expires_at));
  return c.json(st.body, 200);
}

const tusResumable = z.literal(tus.TUS_VERSION).describe("The protocol version; 412 without it");
const idParams = z.object({ id: z.string().describe("The upload's id, from the creation's Location") });
const noBody = (description: string) => ({ description });

/** The tus routes in the OpenAPI document: their headers are the protocol (docs/files.md#tus). */
function documentTus(app: OpenAPIHono) {
  const discovery = {
    summary: "tus discovery: Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm",
    responses: { 204: noBody("the server's tus capabilities, in headers") },
  };
  documentRoute(app, { method: "options", path: "/tus", operationId: "tusDiscover", ...discovery });
  documentRoute(app, {
    method: "post",
    path: "/tus",
    operationId: "tusCreate",
    summary:
      "tus creation (with upload): Upload-Length, Upload-Metadata (space, path or filename); body optional",
    request: {
      headers: z.object({
        "tus-resumable": tusResumable,
        "upload-length": z.string().regex(/^\d+$/).describe("The file's size in bytes"),
        "upload-metadata": z
          .string()
          .optional()
          .describe("`space`, `path` or `filename`, `filetype`; base64"),
        "upload-checksum": z.string().optional().describe("`sha256 <base64>` of the body"),
      }),
      body: { content: binaryContent(tus.OFFSET_STREAM), required: false },
    },
    responses: { 201: noBody("created; Location, Upload-Offset, Upload-Expires") },
    errors: [409, 412, 413, 415, 460, 507],
  });
  const id = { params: idParams };
  const withTus = (extra: z.ZodRawShape = {}) => z.object({ "tus-resumable": tusResumable, ...extra });
  documentRoute(app, {
    method: "head",
    path: "/tus/{id}",
    operationId: "tusOffset",
    summary: "tus: Upload-Offset and Upload-Length (no-store)",
    request: { ...id, headers: withTus() },
    responses: { 200: noBody("Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires") },
    errors: [404, 412],
  });
  documentRoute(app, {
    method: "get",
    path: "/tus/{id}",
    operationId: "tusStatus",
    summary: "tus: the HEAD headers, with the upload's JSON status",
    request: { ...id, headers: withTus() },
    responses: {
      200: { description: "the upload", content: { "application/json": { schema: s.uploadStatusOut } } },
    },
    errors: [404, 412],
  });
  documentRoute(app, {
    method: "patch",
    path: "/tus/{id}",
    operationId: "tusAppend",
    summary: "tus: append application/offset+octet-stream at Upload-Offset",
    request: {
      ...id,
      headers: withTus({
        "upload-offset": z.string().regex(/^\d+$/).describe("Where these bytes start"),
        "upload-checksum": z.string().optional().describe("`sha256 <base64>` of this chunk"),
      }),
      body: { content: binaryContent(tus.OFFSET_STREAM), required: true },
    },
    responses: { 204: noBody("stored; Upload-Offset, Upload-Expires") },
    errors: [404, 409, 412, 413, 415, 460, 507],
  });
  documentRoute(app, {
    method: "delete",
    path: "/tus/{id}",
    operationId: "tusTerminate",
    summary: "tus termination",
    request: { ...id, headers: withTus() },
    responses: { 204: noBody("terminated") },
    errors: [404, 412],
  });
}
