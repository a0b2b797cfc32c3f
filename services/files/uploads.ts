/**
 * Resumable uploads, tus-like: POST declares path and size (the size is reserved against the quota), PATCH
 * appends bytes at `Upload-Offset`, GET/HEAD tell the confirmed offset. What arrived before a dropped connection
 * is kept (fsynced, then recorded), so the client continues from the last confirmed offset; a crash loses only
 * unconfirmed bytes. The last byte completes the upload: sha256 checked, content committed as a version. A
 * complete upload whose commit failed (blob store down) or was cut short (crash) keeps its bytes and is
 * committed later: by its client's empty PATCH at the full offset, at the next start, or by the sweep.
 */
import { createHash, type Hash, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, link, rm, truncate } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { pipeline } from "node:stream/promises";
import { ApiError, type Caller } from "../../appliance/kit/index.js";
import { joinPath, parsePath } from "./names.js";
import { nodeOf, nodeRow, requireFileSpot } from "./nodes.js";
import { requireRoom } from "./quota.js";
import { receive } from "./receive.js";
import { isAdmin, requireSpace } from "./spaces.js";
import {
  type Ctx,
  commitStaged,
  type Files,
  requireDisk,
  stagedSize,
  stagingFile,
  stagingGuard,
} from "./state.js";

export interface UploadRow {
  id: string;
  space: string;
  path: string;
  size: number;
  received: number;
  sha256: string | null;
  content_type: string;
  created_by: string;
  created_at: string;
  expires_at: string;
}

export const toUpload = (u: UploadRow) => ({
  id: u.id,
  space: u.space,
  path: u.path,
  size: u.size,
  offset: u.received,
  sha256: u.sha256,
  contentType: u.content_type,
  createdAt: u.created_at,
  expiresAt: u.expires_at,
  complete: false as const,
});

/** A committed upload, kept for `uploadExpiryHours` so that its client can learn the outcome. */
export interface FinishedUpload {
  id: string;
  space: string;
  path: string;
  size: number;
  sha256: string;
  content_type: string;
  created_by: string;
  created_at: string;
  node_id: string;
  version: number;
  finished_at: string;
}

const toFinished = (u: FinishedUpload) => ({
  id: u.id,
  space: u.space,
  path: u.path,
  size: u.size,
  offset: u.size,
  sha256: u.sha256,
  contentType: u.content_type,
  createdAt: u.created_at,
  finishedAt: u.finished_at,
  version: u.version,
  complete: true as const,
});

const expiry = (f: Files) => new Date(Date.now() + f.config.uploadExpiryHours * 3600_000).toISOString();

export async function createUpload(
  ctx: Ctx,
  f: Files,
  caller: Caller,
  input: { space: string; path: string; size: number; sha256?: string; contentType: string },
): Promise<UploadRow> {
  const space = requireSpace(caller, input.space);
  const names = parsePath(input.path);
  if (names.length === 0) throw new ApiError(400, "a file needs a name");
  if (input.size > f.config.maxFileBytes)
    throw new ApiError(413, `a file is at most ${f.config.maxFileBytes} bytes`);
  requireFileSpot(ctx, space, names); // now, rather than after the last byte
  requireDisk(f, input.size);
  const id = randomUUID();
  const t = new Date().toISOString();
  ctx.tx(() => {
    requireRoom(ctx, space, input.size, f.config);
    ctx.db
      .prepare(
        `INSERT INTO uploads (id, space, path, size, sha256, content_type, created_by, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        space,
        joinPath(names),
        input.size,
        input.sha256 ?? null,
        input.contentType,
        caller.id,
        t,
        expiry(f),
      );
  });
  return uploadRow(ctx, id)!;
}

export function uploadRow(ctx: Ctx, id: string): UploadRow | undefined {
  return ctx.db.prepare("SELECT * FROM uploads WHERE id = ?").get(id) as UploadRow | undefined;
}

/** The caller's own upload (admins: anyone's); 404 otherwise, so ids of others' uploads reveal nothing. */
export function ownUpload(ctx: Ctx, caller: Caller, id: string): UploadRow {
  const u = uploadRow(ctx, id);
  if (!u || (u.created_by !== caller.id && !isAdmin(caller))) throw notFoundOrFinished(ctx, caller, id);
  return u;
}

/** The caller's committed upload, or undefined. */
function ownFinished(ctx: Ctx, caller: Caller, id: string): FinishedUpload | undefined {
  const u = ctx.db.prepare("SELECT * FROM finished_uploads WHERE id = ?").get(id) as
    | FinishedUpload
    | undefined;
  return u && (u.created_by === caller.id || isAdmin(caller)) ? u : undefined;
}

/** The file a committed upload made, as it is now (null once deleted, or when the caller lost the space). */
function finishedFile(ctx: Ctx, caller: Caller, u: FinishedUpload) {
  const node = nodeRow(ctx, u.node_id);
  if (!node || node.deleted_at) return null;
  try {
    requireSpace(caller, node.space);
  } catch {
    return null;
  }
  return nodeOf(ctx, node);
}

/** An upload already committed answers 409 (`complete`, with the file), anything else 404. */
class UploadFinished extends ApiError {}
function notFoundOrFinished(ctx: Ctx, caller: Caller, id: string): ApiError {
  const done = ownFinished(ctx, caller, id);
  if (!done) return new ApiError(404, "no such upload");
  return new UploadFinished(409, "this upload is complete", {
    offset: done.size,
    upload: toFinished(done),
    file: finishedFile(ctx, caller, done),
  });
}

/**
 * GET of an upload: a live one's confirmed offset, or a committed one's outcome (200 with `complete: true`
 * and the file), so a client whose answer to the last PATCH was lost learns that it is done.
 */
export function uploadStatus(ctx: Ctx, caller: Caller, id: string) {
  const live = uploadRow(ctx, id);
  if (live && (live.created_by === caller.id || isAdmin(caller)))
    return { size: live.size, offset: live.received, body: { upload: toUpload(live) } };
  const done = ownFinished(ctx, caller, id);
  if (!done) throw new ApiError(404, "no such upload");
  return {
    size: done.size,
    offset: done.size,
    body: { upload: toFinished(done), file: finishedFile(ctx, caller, done) },
  };
}

export async function cancelUpload(ctx: Ctx, f: Files, u: UploadRow): Promise<void> {
  if (f.busy.has(u.id))
    throw new ApiError(409, "bytes are arriving for this upload; try again when they stop");
  await dropUpload(ctx, f, u);
}

/** Forgets an upload: its row (and so its reservation), running hash and staging file. */
async function dropUpload(ctx: Ctx, f: Files, u: UploadRow): Promise<void> {
  ctx.db.prepare("DELETE FROM uploads WHERE id = ?").run(u.id);
  f.hashes.delete(u.id);
  await rm(stagingFile(f, u.id), { force: true });
}

/**
 * A PATCH as its route reads it: who sends it, the offset it claims (`Upload-Offset`, or 0 for tus's
 * creation-with-upload; NaN when missing), its declared length and its body, read only once the checks pass.
 * `verify` is what a protocol on top adds (tus: the chunk's checksum): it sees the bytes just written, fsynced
 * but not yet acknowledged, and refuses them by throwing.
 */
export interface AppendRequest {
  caller: Caller;
  id: string;
  offset: number;
  contentLength: string | undefined;
  body: () => IncomingMessage;
  verify?: (file: string, chunk: { from: number; length: number; complete: boolean }) => Promise<void>;
}

/**
 * What a PATCH achieved: the confirmed offset, and 200 while bytes are missing or 201 with the file once the
 * upload is complete. A refusal is thrown; when it knows the confirmed offset it is in its `data.offset`.
 */
export interface AppendResult {
  offset: number;
  status: 200 | 201;
  upload: unknown;
  file: unknown;
}

/** PATCH: appends the body at its offset; completes the upload with its last byte. */
export async function appendUpload(ctx: Ctx, f: Files, req: AppendRequest): Promise<AppendResult> {
  const { caller, offset } = req;
  let u: UploadRow;
  try {
    u = ownUpload(ctx, caller, req.id);
  } catch (err) {
    // The retry of a completion whose answer was lost (an empty PATCH at the full size): the same 201 again.
    const d =
      err instanceof UploadFinished ? (err.data as { offset: number; upload: unknown; file: unknown }) : null;
    if (d && offset === d.offset && !Number(req.contentLength ?? 0)) {
      return { offset: d.offset, status: 201, upload: d.upload, file: d.file };
    }
    throw err;
  }
  requireSpace(caller, u.space); // still: its creator may have left the team since
  if (!Number.isSafeInteger(offset) || offset < 0) throw new ApiError(400, "Upload-Offset header required");
  if (offset !== u.received) {
    throw new ApiError(409, "Upload-Offset does not match the confirmed offset", { offset: u.received });
  }
  if (f.busy.has(u.id)) throw new ApiError(409, "another request is sending bytes for this upload");
  f.busy.add(u.id);
  try {
    return await appendLocked(ctx, f, u, req);
  } finally {
    f.busy.delete(u.id);
  }
}

async function appendLocked(ctx: Ctx, f: Files, u: UploadRow, req: AppendRequest): Promise<AppendResult> {
  const file = stagingFile(f, u.id);
  const known = f.hashes.get(u.id);
  const hash =
    known?.offset === u.received ? known.hash : u.received === 0 ? createHash("sha256") : undefined;
  f.hashes.delete(u.id);
  const r = await receiveAt(req, f, u, hash);
  f.bytes.uploaded.inc(r.written);
  try {
    await req.verify?.(file, { from: u.received, length: r.written, complete: r.complete });
  } catch (err) {
    await cutBack(file, u.received); // bytes that failed their checksum must not hold space either
    throw err;
  }
  const received = u.received + r.written;
  ctx.db
    .prepare("UPDATE uploads SET received = ?, expires_at = ? WHERE id = ?")
    .run(received, expiry(f), u.id);
  if (hash) f.hashes.set(u.id, { hash, offset: received });
  const upload = toUpload({ ...u, received });
  if (received < u.size) return { offset: received, status: 200, upload, file: null };
  const done = await completeUpload(ctx, f, u, req.caller.id);
  return { offset: received, status: 201, upload, file: done };
}

/**
 * Receives a PATCH body after the confirmed offset. Refused or failed (a full disk, more than declared), the
 * staging file is cut back to the confirmed offset: bytes nobody confirmed must not hold space on a full disk.
 */
async function receiveAt(req: AppendRequest, f: Files, u: UploadRow, hash: Hash | undefined) {
  const file = stagingFile(f, u.id);
  const remaining = u.size - u.received;
  try {
    // An empty PATCH (the retry of a commit) needs no room; any other one is checked before it is read.
    const length = Number(req.contentLength ?? Number.NaN);
    if (length !== 0) requireDisk(f, Math.min(remaining, Number.isFinite(length) ? length : 0));
    return await receive(req.body(), file, {
      offset: u.received,
      max: remaining,
      hash,
      tooMuch: () => new ApiError(413, "more bytes than the upload's declared size"),
      guard: stagingGuard(f),
    });
  } catch (err) {
    await cutBack(file, u.received);
    throw err;
  }
}

/** Cuts a staging file back to the confirmed offset (removes it when nothing was confirmed). */
async function cutBack(file: string, received: number): Promise<void> {
  if (received === 0) await rm(file, { force: true });
  else await truncate(file, received).catch(() => undefined);
}

/**
 * Hashes, checks and commits a fully received upload. The commit consumes a second name of the staging file, so
 * when the blob store or the database fails the upload keeps its bytes and state (503, or 507 on a full disk):
 * the client retries with an empty PATCH at `Upload-Offset: <size>`. Refusals (422, 409) drop the upload.
 */
async function completeUpload(ctx: Ctx, f: Files, u: UploadRow, by: string) {
  const file = stagingFile(f, u.id);
  const known = f.hashes.get(u.id);
  f.hashes.delete(u.id);
  const sha256 = known?.offset === u.size ? known.hash.digest("hex") : await hashFile(file);
  if (u.sha256 && u.sha256 !== sha256) {
    await dropUpload(ctx, f, u); // not cancelUpload: this very PATCH holds the upload busy
    throw new ApiError(422, "the content does not match the declared sha256; the upload was dropped", {
      expected: u.sha256,
      actual: sha256,
    });
  }
  const drop = () => ctx.db.prepare("DELETE FROM uploads WHERE id = ?").run(u.id);
  const finished = (w: { file: { id: string }; version: number }) =>
    ctx.db
      .prepare(
        `INSERT INTO finished_uploads (id, space, path, size, sha256, content_type, created_by, created_at,
          node_id, version, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        u.id,
        u.space,
        u.path,
        u.size,
        sha256,
        u.content_type,
        u.created_by,
        u.created_at,
        w.file.id,
        w.version,
        new Date().toISOString(),
      );
  try {
    const w = await commitStaged(
      ctx,
      f,
      { file: await commitName(f, u.id), sha256, size: u.size },
      { space: u.space, names: parsePath(u.path), contentType: u.content_type, by },
      drop, // inside the version's transaction: the reservation ends exactly when the content counts
      finished, // and in it too: the outcome is known exactly when it happened
    );
    await rm(file, { force: true });
    return w.file;
  } catch (err) {
    if (err instanceof ApiError) {
      await dropUpload(ctx, f, u); // refused (a folder now has its name, …): a retry would not change that
      throw err;
    }
    throw keptForRetry(ctx, u, err);
  }
}

/**
 * A second name (a hard link; a copy where links are not supported) for the staging file of a complete upload,
 * for the commit to consume: the blob store takes over and removes the file it is given, whatever the outcome.
 */
async function commitName(f: Files, id: string): Promise<string> {
  const name = stagingFile(f, `${id}.commit`);
  await rm(name, { force: true });
  await link(stagingFile(f, id), name).catch(() => copyFile(stagingFile(f, id), name));
  return name;
}

/** The answer to a commit that failed for a reason a retry may not meet (store unreachable, disk full). */
function keptForRetry(ctx: Ctx, u: UploadRow, err: unknown): ApiError {
  const code = (err as { code?: string }).code;
  const full = code === "ENOSPC" || code === "SQLITE_FULL";
  ctx.log.warn({ err, upload: u.id }, "committing a complete upload failed; it is kept for a retry");
  const retry = `PATCH it again with Upload-Offset: ${u.size} and an empty body`;
  return full
    ? new ApiError(507, `the box's disk is full; the upload is kept: free space, then ${retry}`, {
        reason: "disk-full",
        offset: u.size,
      })
    : new ApiError(503, `the blob store failed (${code ?? "error"}); the upload is kept: ${retry}`, {
        reason: "store-unavailable",
        offset: u.size,
      });
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(file), hash);
  return hash.digest("hex");
}

/**
 * Commits the uploads that have all their bytes but no version: the service died (or the blob store failed)
 * while committing them. Claims them at once, before its first await, so a sweep started right after skips
 * them; the rehash and the commit run on. One whose staging file came up short (none should) is set back to
 * the bytes it has, for its client to resume. Never throws; returns how many it committed.
 */
export async function commitCompleteUploads(ctx: Ctx, f: Files): Promise<number> {
  const complete = (
    ctx.db.prepare("SELECT * FROM uploads WHERE size > 0 AND received = size").all() as UploadRow[]
  ).filter((u) => !f.busy.has(u.id));
  for (const u of complete) f.busy.add(u.id);
  let committed = 0;
  for (const u of complete) {
    try {
      const staged = stagedSize(f, u.id);
      if (staged < u.size) {
        ctx.log.warn({ upload: u.id, staged, size: u.size }, "a complete upload lost bytes; it resumes");
        ctx.db.prepare("UPDATE uploads SET received = ? WHERE id = ?").run(staged, u.id);
        continue;
      }
      const file = await completeUpload(ctx, f, u, u.created_by);
      ctx.log.info({ upload: u.id, path: file.path }, "committed a complete upload left uncommitted");
      committed++;
    } catch (err) {
      ctx.log.warn({ err, upload: u.id }, "a complete upload could not be committed yet");
    } finally {
      f.busy.delete(u.id);
    }
  }
  return committed;
}

/** Drops uploads that made no progress before their expiry, and forgets outcomes older than that. */
export async function sweepUploads(ctx: Ctx, f: Files): Promise<number> {
  const expired = ctx.db
    .prepare("SELECT * FROM uploads WHERE expires_at < ?")
    .all(new Date().toISOString()) as UploadRow[];
  for (const u of expired) if (!f.busy.has(u.id)) await cancelUpload(ctx, f, u);
  const before = new Date(Date.now() - f.config.uploadExpiryHours * 3600_000).toISOString();
  ctx.db.prepare("DELETE FROM finished_uploads WHERE finished_at < ?").run(before);
  return expired.length;
}
