/**
 * Runs queued jobs, `concurrency` at a time, highest priority first. Each attempt works in a fresh folder;
 * bad media fails at once with its reason, a limit (time, output size) fails without retry, anything else is
 * retried with exponential backoff up to `maxAttempts`. Cancel kills the job's ffmpeg process group.
 * At start, pids a crash left recorded are killed (if they are still an ffmpeg of ours) and interrupted jobs
 * go back to the queue, keeping their work folders so finished steps are not run again: a job survives a
 * restart and never leaves an orphan ffmpeg.
 */
import { createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { FfmpegError, killGroup } from "./ffmpeg/run.js";
import {
  type Ctx,
  claimNext,
  clearPids,
  finish,
  type JobRow,
  jobRow,
  nextWakeMs,
  recordPid,
  retryLater,
  setProgress,
  toJob,
} from "./jobs.js";
import { publish } from "./outputs.js";
import { processSource } from "./pipelines.js";
import { BadMediaError } from "./probe.js";
import { policyOf } from "./space-settings.js";
import type { Media } from "./state.js";

const PROGRESS_EVENT_MS = 1000;

export class MediaWorker {
  private readonly running = new Map<string, AbortController>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly ctx: Ctx,
    private readonly m: Media,
  ) {}

  /** Sweeps what a crash left, then starts taking jobs. */
  start(): void {
    sweepOrphans(this.ctx, this.m);
    this.wake();
  }

  /** Looks for runnable jobs now. */
  wake(): void {
    if (this.stopped) return;
    while (this.running.size < this.m.config.concurrency) {
      const job = claimNext(this.ctx);
      if (!job) break;
      const ac = new AbortController();
      this.running.set(job.id, ac);
      this.changed(job.id);
      void this.run(job, ac).finally(() => {
        this.running.delete(job.id);
        this.wake();
      });
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    const ms = nextWakeMs(this.ctx);
    if (ms === null || this.stopped) return;
    this.timer = setTimeout(() => this.wake(), Math.min(Math.max(ms, 50), 60_000));
    this.timer.unref();
  }

  /** Cancels a running job (kills its ffmpeg); true when it was running here. */
  cancel(id: string): boolean {
    const ac = this.running.get(id);
    if (!ac) return false;
    ac.abort();
    return true;
  }

  /** Stops taking jobs and kills the running ones' ffmpeg; they are queued again at the next start. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const ac of this.running.values()) ac.abort(new Error("stopping"));
  }

  private changed(id: string): void {
    const row = jobRow(this.ctx, id);
    if (row) this.m.live.emit("job", toJob(row));
  }

  private async run(job: JobRow, ac: AbortController): Promise<void> {
    const { ctx, m } = this;
    const { id, attempts: attempt } = job;
    const work = join(m.workDir, id);
    // A folder left by an attempt a restart interrupted keeps its finished steps (sweepOrphans kept it);
    // after a failed attempt there is none (removed below).
    mkdirSync(work, { recursive: true });
    let lastEvent = 0;
    try {
      const input = await this.source(job, work);
      const result = await processSource(
        m.bins,
        m.config,
        input,
        work,
        {
          signal: ac.signal,
          onPid: (pid) => recordPid(ctx, id, pid),
          onFallback: (from, reason) =>
            ctx.log.warn({ job: id, encoder: from, reason }, "encoder failed; falling back"),
          onStage: (stage, percent, eta) => {
            setProgress(ctx, id, { progress: Math.round(percent * 10) / 10, etaSeconds: eta, stage });
            this.changed(id);
            if (Date.now() - lastEvent >= PROGRESS_EVENT_MS) {
              lastEvent = Date.now();
              publishProgress(ctx, { jobId: id, stage, progress: percent, etaSeconds: eta });
            }
          },
        },
        policyOf(ctx, job.space),
      );
      if (ac.signal.aborted) throw new FfmpegError("cancelled", "cancelled");
      setProgress(ctx, id, { progress: 100, etaSeconds: 0, stage: "publish" });
      this.changed(id);
      const probe = readFileSync(join(work, "probe.json"), "utf8");
      rmSync(join(work, "probe.json"));
      await publish(ctx, m, id, work, { kind: result.probe.kind, encoder: result.encoder, probe });
    } catch (err) {
      this.failed(id, attempt, err, ac);
    } finally {
      clearPids(ctx, id);
      // Stopping the service: the job stays running and is queued again at the next start, with its folder.
      if (!(this.stopped && ac.signal.aborted)) rmSync(work, { recursive: true, force: true });
      this.changed(id);
    }
  }

  private failed(id: string, attempt: number, err: unknown, ac: AbortController): void {
    const { ctx, m } = this;
    if (this.stopped && ac.signal.aborted) return; // stays 'running'; the next start queues it again
    const reason = err instanceof Error ? err.message : String(err);
    const row = jobRow(ctx, id);
    if (row?.state !== "running") return;
    if (ac.signal.aborted) {
      finish(ctx, id, "cancelled", "cancelled");
      return;
    }
    const permanent =
      err instanceof BadMediaError ||
      (err instanceof FfmpegError && err.kind !== "spawn") ||
      attempt >= m.config.maxAttempts;
    ctx.log.warn(
      { job: id, attempt, reason },
      permanent ? "media job failed" : "media job failed; will retry",
    );
    if (permanent) finish(ctx, id, "failed", reason);
    else retryLater(ctx, id, m.config.retryBaseMs * 2 ** (attempt - 1), reason);
  }

  /** A seekable path to the source: the local blob itself, or a copy of an S3 blob in the work folder. */
  private async source({ sha256, origin }: JobRow, work: string): Promise<string> {
    const { m } = this;
    if (origin === "forms") {
      if (!(await m.forms.store.stat(sha256)))
        throw new Error(`attachment blob ${sha256} is not in the forms store`);
      return m.forms.path(sha256);
    }
    if (!(await m.sources.stat(sha256))) throw new Error(`source blob ${sha256} is not in the files store`);
    if (m.sourcePath) return m.sourcePath(sha256);
    const file = join(work, "input");
    await pipeline(await m.sources.get(sha256), createWriteStream(file));
    return file;
  }
}

/** Progress goes straight to NATS (not the outbox): many per job, and only the latest matters. */
function publishProgress(ctx: Ctx, data: Record<string, unknown>): void {
  if (!ctx.nats) return;
  const event = {
    specversion: "1.0",
    id: `${data.jobId}-${Date.now()}`,
    source: `/nexus/${ctx.site}/media`,
    type: "nexus.media.job-progress",
    time: new Date().toISOString(),
    datacontenttype: "application/json",
    data,
  };
  try {
    ctx.nats.publish("nexus.media.job-progress", JSON.stringify(event));
  } catch {
    // the bus is down: the API and SSE still have it
  }
}

/** Kills ffmpeg groups a crash left behind (only processes that are still an ffmpeg) and requeues their jobs. */
export function sweepOrphans(ctx: Ctx, m: Media): void {
  const pids = ctx.db.prepare("SELECT job_id, pid FROM job_pids").all() as { job_id: string; pid: number }[];
  for (const { pid } of pids) {
    if (isOurs(pid, m)) killGroup(pid);
  }
  const resumed = ctx.tx(() => {
    ctx.db.prepare("DELETE FROM job_pids").run();
    const ids = ctx.db.prepare("SELECT id FROM jobs WHERE state = 'running'").all() as { id: string }[];
    ctx.db
      .prepare("UPDATE jobs SET state = 'queued', stage = NULL, progress = 0 WHERE state = 'running'")
      .run();
    return new Set(ids.map((r) => r.id));
  });
  // Interrupted jobs keep their work folders (finished steps are not run again); anything else goes.
  mkdirSync(m.workDir, { recursive: true });
  for (const name of readdirSync(m.workDir))
    if (!resumed.has(name)) rmSync(join(m.workDir, name), { recursive: true, force: true });
}

function isOurs(pid: number, m: Media): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmd.includes(m.bins.ffmpeg) || cmd.includes(m.bins.ffprobe) || cmd.includes("prlimit");
  } catch {
    return false;
  }
}
