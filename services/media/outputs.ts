/**
 * Publishing a finished job: every file of its work folder goes into the media blob store, then one
 * transaction records them all and marks the job done. A job that fails publishes nothing (rows are only
 * written on success; blobs stored before a failure are released again). Outputs are removed with the
 * file version they came from.
 */
import { createHash } from "node:crypto";
import { createReadStream, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Ctx } from "./jobs.js";
import { STEPS } from "./pipelines.js";
import type { Media } from "./state.js";

/** A work-folder file named `<output>.shared` is that output's copy for signed URLs (exif.ts). */
const SHARED = ".shared";

export interface OutputRow {
  job_id: string;
  name: string;
  sha256: string;
  size: number;
  content_type: string;
  /** A copy for signed (shareable) URLs, without GPS; null: the same bytes. */
  shared_sha256: string | null;
  shared_size: number | null;
}

const TYPES: Record<string, string> = {
  m3u8: "application/vnd.apple.mpegurl",
  ts: "video/mp2t",
  m4s: "video/iso.segment",
  mp4: "video/mp4",
  m4a: "audio/mp4",
  ogg: "audio/ogg",
  jpg: "image/jpeg",
  webp: "image/webp",
  json: "application/json",
};

/** The content type of an output by its name. */
export const contentTypeOf = (name: string) =>
  TYPES[name.slice(name.lastIndexOf(".") + 1)] ?? "application/octet-stream";

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)],
  );
}

async function sha256Of(file: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(createReadStream(file), h);
  return h.digest("hex");
}

/** Stores the work folder's files (except `input`) and marks the job done, atomically for readers. */
export async function publish(
  ctx: Ctx,
  m: Media,
  jobId: string,
  work: string,
  fields: { kind: string; encoder: string | null; probe: string },
): Promise<OutputRow[]> {
  const rows: OutputRow[] = [];
  const shared = new Map<string, { sha256: string; size: number }>();
  for (const file of filesUnder(work)) {
    const name = relative(work, file).split("\\").join("/");
    if (name === "input" || name === STEPS) continue;
    const sha256 = await sha256Of(file);
    const size = statSync(file).size;
    await m.outputs.put(sha256, { file }, size);
    if (name.endsWith(SHARED)) shared.set(name.slice(0, -SHARED.length), { sha256, size });
    else
      rows.push({
        job_id: jobId,
        name,
        sha256,
        size,
        content_type: contentTypeOf(name),
        shared_sha256: null,
        shared_size: null,
      });
  }
  for (const r of rows) {
    const copy = shared.get(r.name);
    if (copy) [r.shared_sha256, r.shared_size] = [copy.sha256, copy.size];
  }
  try {
    ctx.tx(() => {
      const still = ctx.db.prepare("SELECT state FROM jobs WHERE id = ?").get(jobId) as { state: string };
      if (still?.state !== "running") throw new Error(`job is ${still?.state ?? "gone"}`);
      const ins = ctx.db.prepare(
        `INSERT INTO outputs (job_id, name, sha256, size, content_type, shared_sha256, shared_size)
         VALUES (@job_id, @name, @sha256, @size, @content_type, @shared_sha256, @shared_size)`,
      );
      for (const r of rows) ins.run(r);
      ctx.db
        .prepare(
          `UPDATE jobs SET state = 'done', progress = 100, eta_seconds = 0, stage = 'done', kind = ?, encoder = ?,
           probe = ?, error = NULL, updated_at = ? WHERE id = ?`,
        )
        .run(fields.kind, fields.encoder, fields.probe, new Date().toISOString(), jobId);
      const j = ctx.db.prepare("SELECT node_id, version FROM jobs WHERE id = ?").get(jobId) as {
        node_id: string;
        version: number;
      };
      ctx.emit("job-done", {
        jobId,
        nodeId: j.node_id,
        version: j.version,
        kind: fields.kind,
        encoder: fields.encoder,
        outputs: rows.map((r) => r.name),
      });
    });
  } catch (err) {
    await releaseOutputs(ctx, m, [
      ...rows.map((r) => r.sha256),
      ...[...shared.values()].map((c) => c.sha256),
    ]);
    throw err;
  }
  return rows;
}

/** Deletes output blobs no output row references. */
export async function releaseOutputs(ctx: Ctx, m: Media, shas: readonly string[]): Promise<void> {
  const used = ctx.db.prepare("SELECT 1 FROM outputs WHERE sha256 = ?1 OR shared_sha256 = ?1 LIMIT 1");
  for (const sha of new Set(shas)) if (!used.get(sha)) await m.outputs.delete(sha);
}

/** Removes the jobs and outputs of a file's versions (all of them when `versions` is null). */
export async function purgeSource(
  ctx: Ctx,
  m: Media,
  nodeId: string,
  versions: readonly number[] | null,
): Promise<number> {
  const shas = ctx.tx(() => {
    const match = versions ? `AND version IN (${versions.map(() => "?").join(",") || "NULL"})` : "";
    const args = [nodeId, ...(versions ?? [])];
    const out = ctx.db
      .prepare(
        `SELECT o.sha256 FROM outputs o JOIN jobs j ON j.id = o.job_id WHERE j.node_id = ? ${match}
         UNION SELECT o.shared_sha256 FROM outputs o JOIN jobs j ON j.id = o.job_id
         WHERE o.shared_sha256 IS NOT NULL AND j.node_id = ? ${match}`,
      )
      .all(...args, ...args) as { sha256: string }[];
    ctx.db
      .prepare(`DELETE FROM outputs WHERE job_id IN (SELECT id FROM jobs WHERE node_id = ? ${match})`)
      .run(...args);
    // Running jobs are cancelled by the caller first; finished ones go, with their outputs.
    ctx.db.prepare(`DELETE FROM jobs WHERE node_id = ? AND state != 'running' ${match}`).run(...args);
    ctx.db.prepare(`DELETE FROM sources WHERE node_id = ? ${match}`).run(...args);
    return out.map((r) => r.sha256);
  });
  await releaseOutputs(ctx, m, shas);
  return shas.length;
}

export const outputsOf = (ctx: Ctx, jobId: string) =>
  ctx.db.prepare("SELECT * FROM outputs WHERE job_id = ? ORDER BY name").all(jobId) as OutputRow[];

export const outputRow = (ctx: Ctx, jobId: string, name: string) =>
  ctx.db.prepare("SELECT * FROM outputs WHERE job_id = ? AND name = ?").get(jobId, name) as
    | OutputRow
    | undefined;
