/**
 * Runs the scheduled backup (then the retention prune, inside the job) at each time the cron schedule
 * names. `tick(now)` is the whole decision, with the clock as a parameter: a test moves a fake clock and
 * calls it, nothing sleeps. `start()` only arranges for tick to be called: at the next run time, and at least
 * every minute so a changed wall clock (NTP step, suspend) is noticed. A run that falls while another job is
 * busy is retried on the next tick; a box that was off at run time backs up at the next one.
 */
import type { Logger } from "../kit/index.js";
import type { BackupJobs } from "./jobs.js";
import { type CronSchedule, nextRun, parseCron } from "./schedule.js";

export interface SchedulerDeps {
  jobs: Pick<BackupJobs, "start" | "running">;
  /** The cron expression, or "off". */
  schedule: string;
  /** Whether a destination is configured (no destination: nothing is scheduled). */
  enabled: boolean;
  now?: () => Date;
  log: Logger;
}

const RECHECK_MS = 60_000;

/** The scheduler of one box; `nextRunAt` is what the API and console show. */
export function backupScheduler(deps: SchedulerDeps) {
  const now = deps.now ?? (() => new Date());
  const cron: CronSchedule | null =
    deps.schedule === "off" || !deps.enabled ? null : parseCron(deps.schedule);
  let next: Date | null = cron ? nextRun(cron, now()) : null;
  let timer: NodeJS.Timeout | null = null;

  /** Starts the scheduled backup when its time has come; returns the job id it started, if any. */
  function tick(at: Date = now()): string | null {
    if (!cron || !next || at.getTime() < next.getTime()) return null;
    if (deps.jobs.running()) return null; // busy: the next tick tries again
    next = nextRun(cron, at);
    try {
      return deps.jobs.start("backup", { reason: "scheduled" }).id;
    } catch (err) {
      deps.log.warn({ err }, "scheduled backup not started");
      return null;
    }
  }

  const arm = () => {
    if (!next) return;
    const wait = Math.min(RECHECK_MS, Math.max(1000, next.getTime() - now().getTime()));
    timer = setTimeout(() => {
      tick();
      arm();
    }, wait);
    timer.unref();
  };

  return {
    tick,
    nextRunAt: () => next?.toISOString() ?? null,
    schedule: () => (cron ? cron.source : "off"),
    start: arm,
    stop() {
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}

export type BackupScheduler = ReturnType<typeof backupScheduler>;
