/**
 * Whole-file upload (`PUT …/content/<path>`, the body streamed to disk and hashed on the way) and download
 * (`GET`/`HEAD`, any version). Checks run before a byte of the body is read: path, size, quota, free disk.
 */
import { createHash, randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { ApiError, type Caller } from "../../appliance/kit/index.js";
import { contentTypeOf } from "./names.js";
import { findByPath, requireFileSpot } from "./nodes.js";
import { quotaOf, requireRoom, usage } from "./quota.js";
import { receive } from "./receive.js";
import type { Servable } from "./serve.js";
import { requireSpace } from "./spaces.js";
import { type Ctx, commitStaged, type Files, requireDisk, stagingFile, stagingGuard } from "./state.js";
import { versionRow } from "./versions.js";

const SHA256 = /^[0-9a-f]{64}$/;

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

function preconditions(req: Pick<PutContent, "ifMatch" | "ifNoneMatch">) {
  const inm = req.ifNoneMatch?.trim();
  if (inm !== undefined && inm !== "*") throw new ApiError(400, "uploads accept only If-None-Match: *");
  return { ifMatch: ifMatchOf(req.ifMatch), ifNoneMatch: inm === "*" };
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

/** A whole-file upload as its route reads it from the request: headers as sent, the body on demand. */
export interface PutContent {
  caller: Caller;
  /** The space id from the URL. */
  space: string;
  /** The file's names: from the URL's percent-encoded path or the `?path=` query (http.ts `namesOf`). */
  names: string[];
  contentLength: string | undefined;
  /** `x-content-sha256`. */
  sha256: string | undefined;
  ifMatch: string | undefined;
  ifNoneMatch: string | undefined;
  contentType: string | undefined;
  /** The request body; read only once every check before it passed. */
  body: () => IncomingMessage;
}

/** Stores an uploaded file as a new file or the next version of one; `created` for a new file. */
export async function putContent(ctx: Ctx, f: Files, req: PutContent) {
  const { caller } = req;
  const space = requireSpace(caller, req.space);
  const { names } = req;
  if (names.length === 0) throw new ApiError(400, "a file needs a name");
  const declared = req.contentLength === undefined ? undefined : Number(req.contentLength);
  if (declared !== undefined && !Number.isSafeInteger(declared))
    throw new ApiError(400, "bad content-length");
  if (declared !== undefined && declared > f.config.maxFileBytes) {
    throw new ApiError(413, `a file is at most ${f.config.maxFileBytes} bytes`);
  }
  const expected = expectedSha(req.sha256);
  const conditions = preconditions(req);
  requireFileSpot(ctx, space, names); // before reading the body; checked again when the version is recorded
  if (declared !== undefined) requireRoom(ctx, space, declared, f.config);
  requireDisk(f, declared ?? 0);

  const file = stagingFile(f, `put-${randomUUID()}`);
  const hash = createHash("sha256");
  const { max, tooMuch } = budget(ctx, f, space);
  try {
    const guard = stagingGuard(f);
    const r = await receive(req.body(), file, { offset: 0, max, hash, tooMuch, guard });
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
    return await commitStaged(
      ctx,
      f,
      { file, sha256, size: r.written },
      {
        space,
        names,
        contentType: contentTypeOf(req.contentType),
        by: caller.id,
        ...conditions,
      },
      // Again inside the version's transaction: concurrent uploads cannot overshoot the quota together.
      () => requireRoom(ctx, space, r.written, f.config),
    );
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
}

/**
 * The file at `names` (404 for folders and missing files), as a download serves it: the
 * current version, or `version` (the raw `?version=` value) when given.
 */
export function contentAt(
  ctx: Ctx,
  caller: Caller,
  at: { space: string; names: string[]; version: string | undefined },
): Servable {
  const space = requireSpace(caller, at.space);
  const { names } = at;
  const node = names.length ? findByPath(ctx, space, names) : undefined;
  if (node?.kind !== "file") throw new ApiError(404, "no such file");
  let version: ReturnType<typeof versionRow>;
  if (at.version !== undefined) {
    const n = Number(at.version);
    if (!Number.isSafeInteger(n) || n < 1) throw new ApiError(400, "version must be a positive integer");
    version = versionRow(ctx, node.id, n);
    if (!version) throw new ApiError(404, "no such version");
  }
  return {
    sha256: version?.sha256 ?? node.sha256!,
    size: version?.size ?? node.size,
    contentType: version?.content_type ?? node.content_type ?? "application/octet-stream",
    name: node.name,
    modifiedAt: version?.created_at ?? node.updated_at,
  };
}
