/**
 * Backups of a running box, as the supervisor process holds them: the configured destination and key, the
 * job runner, the schedule, and what the API, console, /metrics and alerts read of them. The engine comes in
 * as a parameter (appliance.ts passes appliance/backup/index.ts's functions).
 */
import type { Alert } from "../box/alerts.js";
import { backupAlert } from "../box/alerts.js";
import type { BackupGauges } from "../gateway/metrics.js";
import type { Logger } from "../kit/index.js";
import type { BackupConfig } from "./config.js";
import { openDestination } from "./destination-spec.js";
import type { BackupEngine } from "./engine.js";
import { type BackupJob, backupJobs } from "./jobs.js";
import { decryptionKey, encryptionKey } from "./keys.js";
import { backupScheduler } from "./scheduler.js";
import type { BackupDestination, BackupSummary } from "./types.js";

export interface BoxBackupsDeps {
  config: BackupConfig;
  dataDir: string;
  engine: BackupEngine & { parseDestination(spec: string): BackupDestination };
  log: Logger;
  now?: () => Date;
}

/** What `GET /api/appliance/backups` answers. */
export interface BackupsOverview {
  destination: string | null;
  schedule: string;
  nextRunAt: string | null;
  retention: { keepLast: number; keepDaily: number; keepWeekly: number };
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastError: string | null;
  lastDurationSeconds: number | null;
  lastBytes: number | null;
  running: BackupJob | null;
  backups: BackupSummary[];
  /** Why the list is empty when the destination could not be read. */
  listError: string | null;
}

/** The box's backups; `start()` arms the schedule, `stop()` disarms it and waits for a running job. */
export function boxBackups(deps: BoxBackupsDeps) {
  const { config: c } = deps;
  let dest: BackupDestination | null = null;
  const destination = () => {
    if (!c.destination) throw new Error("no backup destination is configured (backup.destination in config)");
    dest ??= openDestination(c.destination, {
      dataDir: deps.dataDir,
      config: c,
      other: deps.engine.parseDestination,
    });
    return dest;
  };
  const retention = { keepLast: c.keepLast, keepDaily: c.keepDaily, keepWeekly: c.keepWeekly };
  const jobs = backupJobs({
    engine: deps.engine,
    dataDir: deps.dataDir,
    destination,
    encryptionKey: () => encryptionKey(c),
    decryptionKey: () => decryptionKey(c),
    retention,
    includeSecrets: c.includeSecrets,
    now: deps.now,
    log: deps.log,
  });
  const scheduler = backupScheduler({
    jobs,
    schedule: c.schedule,
    enabled: Boolean(c.destination),
    now: deps.now,
    log: deps.log,
  });

  async function overview(): Promise<BackupsOverview> {
    let backups: BackupSummary[] = [];
    let listError: string | null = null;
    if (c.destination) {
      try {
        backups = await deps.engine.listBackups(destination());
      } catch (err) {
        listError = (err as Error).message;
      }
    }
    const o = jobs.outcomes();
    return {
      destination: c.destination ? destination().description : null,
      schedule: scheduler.schedule(),
      nextRunAt: scheduler.nextRunAt(),
      retention,
      lastSuccessAt: o.lastSuccessAt,
      lastFailureAt: o.lastFailureAt,
      lastError: o.lastError,
      lastDurationSeconds: o.lastDurationSeconds,
      lastBytes: o.lastBytes,
      running: jobs.running(),
      backups,
      listError,
    };
  }

  return {
    jobs,
    scheduler,
    overview,
    gauges: (): BackupGauges => ({ ...jobs.outcomes(), running: jobs.running() !== null }),
    alerts: (): Alert[] => {
      const a = backupAlert(jobs.outcomes());
      return a ? [a] : [];
    },
    /** Whether a destination is configured. */
    configured: () => Boolean(c.destination),
    start: () => scheduler.start(),
    async stop() {
      scheduler.stop();
      await jobs.stop();
      (dest as { close?: () => void } | null)?.close?.();
    },
  };
}

export type BoxBackups = ReturnType<typeof boxBackups>;
