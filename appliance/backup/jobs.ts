/**
 * The backup job runner in the supervisor process: one job at a time (backup, verify, prune, restore dry
 * run), each with its live progress, its result or error; the last few kept for the API. Outcomes of backups
 * (last success, duration, bytes, failures, last error) are kept in `<data>/backup-state.json`, so /metrics,
 * the console and the alert survive a restart. The engine, destination and key come in as parameters.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ApiError } from "../kit/errors.js";
import type { Logger } from "../kit/index.js";
import type { BackupEngine } from "./engine.js";
import { writeAtomic } from "./fs-atomic.js";
import type {
  BackupDecryptionKey,
  BackupDestination,
  BackupEncryptionKey,
  BackupProgress,
  BackupReason,
  BackupSummary,
  RetentionPolicy,
} from "./types.js";

export type JobKind = "backup" | "verify" | "prune" | "restore-dry-run";

export interface BackupJob {
  id: string;
  kind: JobKind;
  /** Why a backup runs (backup jobs only). */
  reason: BackupReason | null;
  /** The backup a verify or restore dry run is about. */
  backupId: string | null;
  state: "running" | "succeeded" | "failed";
  startedAt: string;
  finishedAt: string | null;
  progress: BackupProgress | null;
  /** The engine's answer: a backup's summary (+ what pruning removed), a verify, prune or restore plan. */
  result: unknown;
  error: string | null;
  /** A backup's own choice over the config's (absent: the config's). */
  includeSecrets?: boolean;
}

/** What is kept about backups across restarts. */
export interface BackupOutcomes {
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastError: string | null;
  /** Of the last backup that finished, ok or not. */
  lastDurationSeconds: number | null;
  /** Size of the last successful backup. */
  lastBytes: number | null;
  failuresTotal: number;
}

export interface BackupJobDeps {
  engine: BackupEngine;
  dataDir: string;
  /** Where backups go; throws a readable Error when none is configured or it cannot be reached. */
  destination(): BackupDestination;
  encryptionKey(): BackupEncryptionKey;
  decryptionKey(): BackupDecryptionKey;
  retention: RetentionPolicy;
  includeSecrets: boolean;
  now?: () => Date;
  log: Logger;
}

const KEEP_JOBS = 20;
const NO_OUTCOMES: BackupOutcomes = {
  lastSuccessAt: null,
  lastFailureAt: null,
  lastError: null,
  lastDurationSeconds: null,
  lastBytes: null,
  failuresTotal: 0,
};

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 500);

/** The runner; `start` refuses (409) while another job runs. */
export function backupJobs(deps: BackupJobDeps) {
  const now = deps.now ?? (() => new Date());
  const stateFile = join(deps.dataDir, "backup-state.json");
  const jobs = new Map<string, BackupJob>();
  let running: { job: BackupJob; done: Promise<void>; abort: AbortController } | null = null;
  let outcomes = readOutcomes(stateFile);
  let saving = Promise.resolve();
  const save = () => {
    const snapshot = JSON.stringify(outcomes);
    saving = saving
      .then(() => writeAtomic(stateFile, `${stateFile}.tmp`, Buffer.from(snapshot)))
      .catch((err) => deps.log.warn({ err }, "backup state not saved"));
    return saving;
  };

  type Work = (
    job: BackupJob,
    onProgress: (p: BackupProgress) => void,
    signal: AbortSignal,
  ) => Promise<unknown>;
  const work: Record<JobKind, Work> = {
    backup: async (job, onProgress, signal) => {
      const destination = deps.destination();
      const summary = await deps.engine.createBackup({
        dataDir: deps.dataDir,
        destination,
        key: deps.encryptionKey(),
        includeSecrets: job.includeSecrets ?? deps.includeSecrets,
        reason: job.reason ?? "manual",
        onProgress,
        signal,
      });
      // Scheduled runs apply the retention policy right after; a failed prune fails the job, the backup stays.
      if (job.reason !== "scheduled") return { backup: summary, pruned: null };
      const pruned = await deps.engine.pruneBackups({ destination, policy: deps.retention, now: now() });
      return { backup: summary, pruned };
    },
    verify: (job, onProgress) =>
      deps.engine.verifyBackup({
        destination: deps.destination(),
        id: job.backupId!,
        key: deps.decryptionKey(),
        onProgress,
      }),
    prune: () =>
      deps.engine.pruneBackups({ destination: deps.destination(), policy: deps.retention, now: now() }),
    "restore-dry-run": (job, onProgress) =>
      deps.engine.restoreBackup({
        dataDir: deps.dataDir,
        destination: deps.destination(),
        id: job.backupId!,
        key: deps.decryptionKey(),
        dryRun: true,
        onProgress,
      }),
  };

  const finish = async (job: BackupJob, result: unknown, err: unknown) => {
    const ended = now();
    job.finishedAt = ended.toISOString();
    job.state = err === undefined ? "succeeded" : "failed";
    job.result = err === undefined ? result : null;
    job.error = err === undefined ? null : message(err);
    if (job.kind !== "backup") return;
    const seconds = (ended.getTime() - Date.parse(job.startedAt)) / 1000;
    if (err === undefined) {
      const summary = (result as { backup: BackupSummary }).backup;
      outcomes = {
        ...outcomes,
        lastSuccessAt: job.finishedAt,
        lastDurationSeconds: seconds,
        lastBytes: summary.sizeBytes,
        lastError: null,
      };
      deps.log.info({ job: job.id, backup: summary.id, seconds, bytes: summary.sizeBytes }, "backup done");
    } else {
      outcomes = {
        ...outcomes,
        lastFailureAt: job.finishedAt,
        lastDurationSeconds: seconds,
        lastError: job.error,
        failuresTotal: outcomes.failuresTotal + 1,
      };
      deps.log.error({ job: job.id, err }, "backup failed");
    }
    await save();
  };

  /** Starts a job now; 409 while one runs. */
  function start(
    kind: JobKind,
    opts: { reason?: BackupReason; backupId?: string; includeSecrets?: boolean } = {},
  ): BackupJob {
    if (running)
      throw new ApiError(409, `a backup job is running (${running.job.kind})`, { job: running.job.id });
    const job: BackupJob = {
      id: randomUUID(),
      kind,
      reason: kind === "backup" ? (opts.reason ?? "manual") : null,
      backupId: opts.backupId ?? null,
      state: "running",
      startedAt: now().toISOString(),
      finishedAt: null,
      progress: null,
      result: null,
      error: null,
      ...(opts.includeSecrets === undefined ? {} : { includeSecrets: opts.includeSecrets }),
    };
    jobs.set(job.id, job);
    for (const old of [...jobs.keys()].slice(0, Math.max(0, jobs.size - KEEP_JOBS))) jobs.delete(old);
    const abort = new AbortController();
    const onProgress = (p: BackupProgress) => {
      job.progress = { ...p };
    };
    const done = (async () => {
      let result: unknown;
      let failure: unknown;
      try {
        result = await work[kind](job, onProgress, abort.signal);
      } catch (err) {
        failure = err ?? new Error("failed");
      }
      await finish(job, result, failure);
    })().finally(() => {
      running = null;
    });
    running = { job, done, abort };
    return job;
  }

  return {
    start,
    job: (id: string) => jobs.get(id) ?? null,
    running: () => running?.job ?? null,
    outcomes: () => ({ ...outcomes }),
    /** Resolves when the running job (if any) has finished. */
    idle: () => running?.done ?? Promise.resolve(),
    /** Aborts a running backup and waits for it (the supervisor stopping). */
    async stop() {
      running?.abort.abort(new Error("the box is stopping"));
      await running?.done;
      await saving;
    },
  };
}

export type BackupJobs = ReturnType<typeof backupJobs>;

function readOutcomes(file: string): BackupOutcomes {
  try {
    return { ...NO_OUTCOMES, ...(JSON.parse(readFileSync(file, "utf8")) as Partial<BackupOutcomes>) };
  } catch {
    return { ...NO_OUTCOMES };
  }
}
