/**
 * The durable job queue in the service's SQLite: a job is a row, claimed by the worker in a transaction, so
 * a restart finds every job where it was. Interactive jobs (asked for through the API) go before bulk ones
 * (new uploads); retries wait until `not_before`.
 */
import { randomUUID } from "node:crypto";
import type { ServiceContext } from "../../appliance/kit/index.js";
import type { MediaConfig } from "./config.js";

export type Ctx = ServiceContext<MediaConfig>;
export type JobState = "queued" | "running" | "done" | "failed" | "cancelled";
/** Where a source lies: a files version (node id, version) or a forms submission attachment. */
export type Origin = "files" | "forms";
export const PRIORITY = { interactive: 10, bulk: 0 } as const;

export interface JobRow {
  id: string;
  node_id: string;
  version: number;
  sha256: string;
  space: string;
  origin: Origin;
  state: JobState;
  priority: number;
  attempts: number;
  not_before: number;
  kind: string | null;
  progress: number;
  eta_seconds: number | null;
  stage: string | null;
  encoder: string | null;
  error: string | null;
  probe: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export interface SourceRow {
  node_id: string;
  version: number;
  sha256: string;
  space: string;
  path: string;
  content_type: string;
  size: number;
  origin?: Origin;
}

/** The job as the API shows it. */
export const toJob = (j: JobRow) => ({
  id: j.id,
  nodeId: j.node_id,
  version: j.version,
  space: j.space,
  origin: j.origin,
  state: j.state,
  priority: j.priority >= PRIORITY.interactive ? ("interactive" as const) : ("bulk" as const),
  attempts: j.attempts,
  kind: j.kind,
  progress: j.progress,
  etaSeconds: j.eta_seconds,
  stage: j.stage,
  encoder: j.encoder,
  error: j.error,
  probe: j.probe ? (JSON.parse(j.probe) as Record<string, unknown>) : null,
  createdAt: j.created_at,
  updatedAt: j.updated_at,
});
export type Job = ReturnType<typeof toJob>;

export const jobRow = (ctx: Ctx, id: string) =>
  ctx.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as JobRow | undefined;

/** Records a file version files told us about (idempotent: events may come twice). */
export function recordSource(ctx: Ctx, s: SourceRow): void {
  ctx.db
    .prepare(
      `INSERT OR REPLACE INTO sources (node_id, version, sha256, space, path, content_type, size, origin)
       VALUES (@node_id, @version, @sha256, @space, @path, @content_type, @size, @origin)`,
    )
    .run({ origin: "files", ...s });
}

export function sourceRow(ctx: Ctx, nodeId: string, version?: number): SourceRow | undefined {
  return (
    version === undefined
      ? ctx.db.prepare("SELECT * FROM sources WHERE node_id = ? ORDER BY version DESC LIMIT 1").get(nodeId)
      : ctx.db.prepare("SELECT * FROM sources WHERE node_id = ? AND version = ?").get(nodeId, version)
  ) as SourceRow | undefined;
}

/** Queues a job for a source version; an unfinished job for it is returned instead of a second one. */
export function enqueue(
  ctx: Ctx,
  s: SourceRow,
  priority: number,
  by: string,
): { job: JobRow; created: boolean } {
  return ctx.tx(() => {
    const open = ctx.db
      .prepare("SELECT * FROM jobs WHERE node_id = ? AND version = ? AND state IN ('queued', 'running')")
      .get(s.node_id, s.version) as JobRow | undefined;
    if (open) {
      if (priority > open.priority)
        ctx.db.prepare("UPDATE jobs SET priority = ? WHERE id = ?").run(priority, open.id);
      return { job: jobRow(ctx, open.id)!, created: false };
    }
    const id = randomUUID();
    const t = new Date().toISOString();
    ctx.db
      .prepare(
        `INSERT INTO jobs (id, node_id, version, sha256, space, origin, state, priority, created_by, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`,
      )
      .run(id, s.node_id, s.version, s.sha256, s.space, s.origin ?? "files", priority, by, t, t);
    ctx.emit("job-queued", { jobId: id, nodeId: s.node_id, version: s.version, space: s.space });
    return { job: jobRow(ctx, id)!, created: true };
  });
}

/** Takes the next runnable job (highest priority, oldest first) and marks it running. */
export function claimNext(ctx: Ctx, now = Date.now()): JobRow | null {
  return ctx.tx(() => {
    const next = ctx.db
      .prepare(
        `SELECT * FROM jobs WHERE state = 'queued' AND not_before <= ?
         ORDER BY priority DESC, created_at LIMIT 1`,
      )
      .get(now) as JobRow | undefined;
    if (!next) return null;
    ctx.db
      .prepare(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, progress = 0, error = NULL, updated_at = ? WHERE id = ?",
      )
      .run(new Date().toISOString(), next.id);
    return jobRow(ctx, next.id)!;
  });
}

/** Milliseconds until the next queued job may run (null: none waiting). */
export function nextWakeMs(ctx: Ctx, now = Date.now()): number | null {
  const r = ctx.db.prepare("SELECT MIN(not_before) AS t FROM jobs WHERE state = 'queued'").get() as {
    t: number | null;
  };
  return r.t === null ? null : Math.max(0, r.t - now);
}

/** Updates progress fields of a running job (not an event: the worker throttles those). */
export function setProgress(
  ctx: Ctx,
  id: string,
  p: { progress: number; etaSeconds: number | null; stage: string },
): void {
  ctx.db
    .prepare("UPDATE jobs SET progress = ?, eta_seconds = ?, stage = ?, updated_at = ? WHERE id = ?")
    .run(p.progress, p.etaSeconds, p.stage, new Date().toISOString(), id);
}

export function setFields(ctx: Ctx, id: string, fields: Partial<Pick<JobRow, "kind" | "encoder" | "probe">>) {
  for (const [k, v] of Object.entries(fields)) {
    ctx.db.prepare(`UPDATE jobs SET ${k} = ? WHERE id = ?`).run(v, id);
  }
}

/** Ends a job (failed or cancelled) with its reason, and its event, in one transaction. */
export function finish(ctx: Ctx, id: string, state: "failed" | "cancelled", error: string): void {
  ctx.tx(() => {
    ctx.db
      .prepare("UPDATE jobs SET state = ?, error = ?, eta_seconds = NULL, updated_at = ? WHERE id = ?")
      .run(state, error.slice(0, 1000), new Date().toISOString(), id);
    const j = jobRow(ctx, id)!;
    ctx.emit(`job-${state}`, { jobId: id, nodeId: j.node_id, version: j.version, error: j.error });
  });
}

/** Puts a failed attempt back in the queue to run again after `delayMs`. */
export function retryLater(ctx: Ctx, id: string, delayMs: number, error: string): void {
  ctx.db
    .prepare("UPDATE jobs SET state = 'queued', not_before = ?, error = ?, updated_at = ? WHERE id = ?")
    .run(Date.now() + delayMs, error.slice(0, 1000), new Date().toISOString(), id);
}

/** Jobs, newest first, of the given spaces (null: every space; `forms`: also every form's attachments). */
export function listJobs(
  ctx: Ctx,
  spaces: readonly string[] | null,
  q: { state?: JobState; nodeId?: string; limit: number },
  forms = false,
): JobRow[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (spaces) {
    const inSpaces = `space IN (${spaces.map(() => "?").join(",") || "NULL"})`;
    where.push(forms ? `(${inSpaces} OR origin = 'forms')` : inSpaces);
    args.push(...spaces);
  }
  if (q.state) {
    where.push("state = ?");
    args.push(q.state);
  }
  if (q.nodeId) {
    where.push("node_id = ?");
    args.push(q.nodeId);
  }
  const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC LIMIT ?`;
  return ctx.db.prepare(sql).all(...args, q.limit) as JobRow[];
}

/** Pids recorded for a job's ffmpeg processes. */
export const recordPid = (ctx: Ctx, jobId: string, pid: number) =>
  ctx.db.prepare("INSERT OR IGNORE INTO job_pids (job_id, pid) VALUES (?, ?)").run(jobId, pid);
export const clearPids = (ctx: Ctx, jobId: string) =>
  ctx.db.prepare("DELETE FROM job_pids WHERE job_id = ?").run(jobId);
