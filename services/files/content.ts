/**
 * Whole-file upload (`PUT …/content/<path>`, the body streamed to disk and hashed on the way) and download
 * (`GET`/`HEAD`, any version). Checks run before a byte of the body is read: path, size, quota, free disk.
 */
import { createHash, randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { ApiError, type Caller, requireCaller } from "../../appliance/kit/index.js";
import { contentTypeOf, parsePath, parseUrlPath } from "./names.js";
import { findByPath, requireFileSpot } from "./nodes.js";
import { quotaOf, requireRoom, usage } from "./quota.js";
import { receive } from "./receive.js";
import { serveBlob } from "./serve.js";
import { requireSpace } from "./spaces.js";
import { type Ctx, commitStaged, type Files, requireDisk, stagingFile, stagingGuard } from "./state.js";
import { versionRow } from "./versions.js";

const SHA256 = /^[0-9a-f]{64}$/;

/** The percent-encoded path after `/<marker>/` in the request URL. */
export function pathAfter(c: Context, marker: string): string {
  const pathname = new URL(c.req.url).pathname;
  const at = pathname.indexOf(`/${marker}/`);
  return at === -1 ? "" : pathname.slice(at + marker.length + 2);
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

export function incomingOf(c: Context): IncomingMessage {
  const incoming = (c.env as { incoming?: IncomingMessage }).incoming;
  if (!incoming) throw new ApiError(500, "uploads need the node server");
  return incoming;
}

/** A client-sent sha256 (`x-content-sha256`), checked for shape. */
export function expectedSha(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const v = header.trim().toLowerCase();
  if (!SHA256.test(v)) throw new ApiError(400, "x-content-sha256 must be 64 hex digits");
  return v;
}

/** The byte budget for a body: the file size limit, or what is left of the quota (then 507 past it). */
export function budget(ctx: Ctx, f: Files, space: string, ownReservation = 0) {
  const quota = quotaOf(ctx, space, f.config);
  const u = usage(ctx, space);
  const room = quota === 0 ? Number.POSITIVE_INFINITY : quota - u.used - u.reserved + ownReservation;
  const max = Math.min(f.config.maxFileBytes, Math.max(0, room));
  const tooMuch = () =>
    room < f.config.maxFileBytes
      ? new ApiError(507, "this would exceed the space's quota; nothing was stored", {
          reason: "quota",
          space,
        })
      : new ApiError(413, `a file is at most ${f.config.maxFileBytes} bytes`);
  return { max, tooMuch };
}

function preconditions(c: Context) {
  const inm = c.req.header("if-none-match")?.trim();
  if (inm !== undefined && inm !== "*") throw new ApiError(400, "uploads accept only If-None-Match: *");
  return { ifMatch: ifMatchOf(c.req.header("if-match")), ifNoneMatch: inm === "*" };
}

const WEAK_ETAG = /^W\/"[^"]*"$/;

/**
 * `If-Match`: "*" or the sha256s of its strong ETags. It compares strongly (RFC 9110 13.1.1), so a weak ETag
 * never matches: when only weak ones are given the answer is 412 at once, before a byte of the body is read.
 */
function ifMatchOf(header: string | undefined): "*" | string[] | undefined {
  const im = header?.trim();
  if (im === undefined || im === "*") return im;
  const strong: string[] = [];
  for (const raw of im.split(",")) {
    const tag = raw.trim();
    if (WEAK_ETAG.test(tag)) continue;
    const sha = tag.replace(/^"|"$/g, "");
    if (!SHA256.test(sha)) {
      throw new ApiError(400, 'If-Match takes "*" or the quoted sha256 ETag of the current version');
    }
    strong.push(sha);
  }
  if (strong.length === 0) {
    throw new ApiError(412, "a weak ETag never matches If-Match (it compares strongly); nothing was stored");
  }
  return strong;
}

export async function putContent(c: Context, ctx: Ctx, f: Files) {
  const caller = requireCaller(c);
  const space = requireSpace(caller, c.req.param("space") ?? "");
  const names = namesOf(c, "content");
  if (names.length === 0) throw new ApiError(400, "a file needs a name");
  const lengthHeader = c.req.header("content-length");
  const declared = lengthHeader === undefined ? undefined : Number(lengthHeader);
  if (declared !== undefined && !Number.isSafeInteger(declared))
    throw new ApiError(400, "bad content-length");
  if (declared !== undefined && declared > f.config.maxFileBytes) {
    throw new ApiError(413, `a file is at most ${f.config.maxFileBytes} bytes`);
  }
  const expected = expectedSha(c.req.header("x-content-sha256"));
  const conditions = preconditions(c);
  requireFileSpot(ctx, space, names); // before reading the body; checked again when the version is recorded
  if (declared !== undefined) requireRoom(ctx, space, declared, f.config);
  requireDisk(f, declared ?? 0);

  const file = stagingFile(f, `put-${randomUUID()}`);
  const hash = createHash("sha256");
  const { max, tooMuch } = budget(ctx, f, space);
  try {
    const guard = stagingGuard(f);
    const r = await receive(incomingOf(c), file, { offset: 0, max, hash, tooMuch, guard });
    f.bytes.uploaded.inc(r.written);
    if (!r.complete) throw new ApiError(400, "the upload was cut off; nothing was stored");
    if (declared !== undefined && r.written !== declared) {
      throw new ApiError(400, "the body is shorter than its content-length; nothing was stored");
    }
    const sha256 = hash.digest("hex");
    if (expected && expected !== sha256) {
      throw new ApiError(422, "the content does not match x-content-sha256; nothing was stored", {
        expected,
        actual: sha256,
      });
    }
    requireRoom(ctx, space, r.written, f.config);
    const w = await commitStaged(
      ctx,
      f,
      { file, sha256, size: r.written },
      {
        space,
        names,
        contentType: contentTypeOf(c.req.header("content-type")),
        by: caller.id,
        ...conditions,
      },
      // Again inside the version's transaction: concurrent uploads cannot overshoot the quota together.
      () => requireRoom(ctx, space, r.written, f.config),
    );
    return c.json({ file: w.file }, w.created ? 201 : 200);
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
}

/** The file at the URL's path (404 for folders and missing files), and the version asked for. */
function fileAt(c: Context, ctx: Ctx, caller: Caller) {
  const space = requireSpace(caller, c.req.param("space") ?? "");
  const names = namesOf(c, "content");
  const node = names.length ? findByPath(ctx, space, names) : undefined;
  if (node?.kind !== "file") throw new ApiError(404, "no such file");
  const raw = c.req.query("version");
  if (raw === undefined) return { node, version: null };
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new ApiError(400, "version must be a positive integer");
  const version = versionRow(ctx, node.id, n);
  if (!version) throw new ApiError(404, "no such version");
  return { node, version };
}

export async function getContent(c: Context, ctx: Ctx, f: Files) {
  const { node, version } = fileAt(c, ctx, requireCaller(c));
  return serveBlob(
    c,
    f,
    {
      sha256: version?.sha256 ?? node.sha256!,
      size: version?.size ?? node.size,
      contentType: version?.content_type ?? node.content_type ?? "application/octet-stream",
      name: node.name,
      modifiedAt: version?.created_at ?? node.updated_at,
    },
    { inline: c.req.query("inline") === "1" },
  );
}
