/**
 * The backup job runner and scheduler with the real engine on a real data dir (SQLite files, local blob
 * store): a scheduled run started by moving a fake clock (no sleeping for time), then pruned by the retention
 * policy; one job at a time; a failed backup (destination unreachable, destination full) → outcomes kept
 * across a restart, the console alert, and the `nexus_backup_*` series, clean for promtool.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxBackups, type BoxBackupsDeps, boxBackups } from "../../appliance/backup/box-backups.js";
import { backupConfigSchema } from "../../appliance/backup/config.js";
import * as engine from "../../appliance/backup/index.js";
import { type BackupDestination, BackupDestinationFullError } from "../../appliance/backup/types.js";
import { GatewayMetrics } from "../../appliance/gateway/metrics.js";
import { freePort } from "../../appliance/lib/ports.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { makeBackupBox } from "../helpers/backup-box.js";
import { metricValue } from "../helpers/prometheus.js";

const log = pino({ level: "silent" });
let base: string;
let dataDir: string;
let passFile: string;
const opened: BoxBackups[] = [];

/** The box's backups with `config` and a clock the test moves. */
function backups(
  config: Record<string, unknown>,
  clock: { t: Date },
  eng: BoxBackupsDeps["engine"] = engine,
) {
  const b = boxBackups({
    config: backupConfigSchema.parse({ passphraseFile: passFile, ...config }),
    dataDir,
    engine: eng,
    log,
    now: () => clock.t,
  });
  opened.push(b);
  return b;
}

const metricsText = (b: BoxBackups) =>
  new GatewayMetrics().render([], [], { disk: null, supervisorLogLinesDropped: 0, backup: b.gauges() });

beforeAll(async () => {
  process.env.NEXUS_BACKUP_SCRYPT_WORK_FACTOR = "12";
  base = tempDir("nexus-backup-jobs-");
  dataDir = join(base, "data");
  await makeBackupBox(dataDir, { blobs: 2, blobBytes: 50_000 });
  passFile = join(base, "passphrase");
  writeFileSync(passFile, "a long enough passphrase\n", { mode: 0o600 });
});
afterAll(async () => {
  for (const b of opened) await b.stop();
  removeDir(base);
});

describe("scheduled backups", () => {
  it("runs at the scheduled minute of a fake clock, then prunes by the retention policy", async () => {
    const clock = { t: new Date(2026, 11, 7, 2, 29, 30) };
    const b = backups({ destination: join(base, "dest"), keepLast: 1, keepDaily: 0, keepWeekly: 0 }, clock);
    expect(b.scheduler.nextRunAt()).toBe(new Date(2026, 11, 7, 2, 30).toISOString());
    expect(b.scheduler.tick()).toBeNull();
    const first = b.jobs.start("backup", { reason: "manual" });
    await b.jobs.idle();
    expect(b.jobs.job(first.id)).toMatchObject({ state: "succeeded", error: null });

    clock.t = new Date(2026, 11, 7, 2, 30, 5);
    const id = b.scheduler.tick();
    expect(id).not.toBeNull();
    expect(b.scheduler.tick()).toBeNull(); // busy, and not due again until tomorrow
    expect(() => b.jobs.start("prune")).toThrow(/running/);
    expect(b.scheduler.nextRunAt()).toBe(new Date(2026, 11, 8, 2, 30).toISOString());
    await b.jobs.idle();
    const job = b.jobs.job(id!)!;
    expect(job, job.error ?? "").toMatchObject({ kind: "backup", reason: "scheduled", state: "succeeded" });
    expect(job.progress?.phase).toBe("done");
    const { backup, pruned } = job.result as {
      backup: { id: string };
      pruned: { kept: string[]; removed: string[] };
    };
    expect(pruned.kept).toEqual([backup.id]);
    expect(pruned.removed).toHaveLength(1);
    const o = await b.overview();
    expect(o.backups.map((x) => x.id)).toEqual([backup.id]);
    expect(o).toMatchObject({ schedule: "30 2 * * *", lastError: null, running: null });
    expect(o.lastBytes).toBeGreaterThan(100_000);
    const text = metricsText(b);
    expect(metricValue(text, "nexus_backup_last_success_timestamp_seconds")).toBe(clock.t.getTime() / 1000);
    expect(metricValue(text, "nexus_backup_failures_total")).toBe(0);
  });

  it("schedules nothing without a destination, or with schedule off", () => {
    const clock = { t: new Date(2026, 11, 7, 2, 29) };
    expect(backups({}, clock).scheduler.nextRunAt()).toBeNull();
    expect(
      backups({ destination: join(base, "d2"), schedule: "off" }, clock).scheduler.nextRunAt(),
    ).toBeNull();
  });
});

describe("a failed backup", () => {
  it("destination unreachable: the job fails, the alert and the metrics say so, and it is remembered", async () => {
    const port = await freePort();
    const clock = { t: new Date(2026, 11, 7, 12, 0) };
    const config = {
      destination: "s3://nexus-backups/box",
      s3Endpoint: "127.0.0.1",
      s3Port: port,
      s3UseSsl: false,
      s3AccessKey: "k",
      s3SecretKey: "s",
    };
    const b = backups(config, clock);
    const job = b.jobs.start("backup");
    await b.jobs.idle();
    expect(b.jobs.job(job.id)).toMatchObject({
      state: "failed",
      error: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(b.alerts()).toEqual([
      expect.objectContaining({
        id: "backup",
        level: "critical",
        message: expect.stringMatching(/last backup failed/),
      }),
    ]);
    const text = metricsText(b);
    expect(metricValue(text, "nexus_backup_failures_total")).toBeGreaterThanOrEqual(1);
    expect(text).toContain("nexus_backup_duration_seconds ");
    promtoolClean(text);
    // A restarted supervisor still knows (the state file), so the alert and the counter survive.
    const again = backups(config, clock);
    expect(again.gauges().failuresTotal).toBe(b.gauges().failuresTotal);
    expect(again.alerts()).toHaveLength(1);
  });

  it("destination full: the job fails with that error and earlier backups stay listed", async () => {
    const clock = { t: new Date(2026, 11, 7, 13, 0) };
    const dir = join(base, "full");
    const folder = engine.folderDestination(dir);
    let puts = 0;
    let room = Number.POSITIVE_INFINITY;
    const fillsUp: BackupDestination = {
      ...folder,
      kind: "folder",
      description: folder.description,
      put: async (key, body, size) => {
        // The second backup runs out of space part-way, after two of its parts.
        if (++puts > room) throw new BackupDestinationFullError(folder.description);
        return folder.put(key, body, size);
      },
    };
    const b = backups({ destination: dir }, clock, { ...engine, parseDestination: () => fillsUp });
    b.jobs.start("backup");
    await b.jobs.idle();
    const okCount = (await b.overview()).backups.length;
    expect(okCount).toBe(1);
    room = puts + 2;
    const failing = b.jobs.start("backup");
    await b.jobs.idle();
    expect(b.jobs.job(failing.id)).toMatchObject({ state: "failed", error: expect.stringMatching(/full/) });
    const o = await b.overview();
    expect(o.backups).toHaveLength(okCount);
    expect(o.lastError).toMatch(/full/);
    expect(
      await engine.verifyBackup({
        destination: folder,
        id: o.backups[0]!.id,
        key: { passphrase: "a long enough passphrase" },
      }),
    ).toEqual({ ok: true });
  });
});

/** `promtool check metrics` finds nothing to say (promtool: installer/system-deps.sh). */
function promtoolClean(text: string) {
  const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  expect(check.error, "promtool must be installed (installer/system-deps.sh)").toBeUndefined();
  expect(`${check.stdout}${check.stderr}`.trim()).toBe("");
  expect(check.status).toBe(0);
}
