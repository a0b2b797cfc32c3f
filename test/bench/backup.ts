/**
 * Backups: MB/s of `createBackup` (encrypted, to a folder on the same disk) and of `restoreBackup` (onto a
 * fresh data dir) against a raw `cp -r` + sync of the same data in the same run, and the write latency a
 * client sees while a backup runs (the write barrier) against the same client without a backup.
 *
 *   backup_throughput_ratio  = backup MB/s / cp -r MB/s      (goal ≥ 0.7)
 *   restore_throughput_ratio = restore MB/s / cp -r MB/s
 *   backup_write_p99_ratio   = p99 write latency during a backup / without   (goal ≤ 2); the backups are
 *                              repeated until 300 writes were measured (barrier: the longest of them)
 *
 * The throughput figures are taken in both key modes: passphrase (one scrypt, work factor 18, seals each
 * backup's manifest and is the fixed floor of a backup and of a restore) and recipient (`age1…` public key,
 * the mode for unattended scheduled backups: no scrypt, the identity stays off the box):
 * `backup_throughput_ratio_recipient`, `restore_throughput_ratio_recipient`.
 *
 * Knobs: BENCH_BACKUP_MB (128: file content uploaded), BENCH_BACKUP_FILES (8).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { scryptRecipient } from "../../appliance/backup/age-scrypt.js";
import { createBackup, folderDestination, restoreBackup } from "../../appliance/backup/index.js";
import { openBackupManifest } from "../../appliance/backup/manifest.js";
import { startTestAppliance, tempDir } from "../helpers/appliance.js";
import { enc, filesCall } from "../helpers/files.js";
import { addPerson, setupAdmin } from "../helpers/people.js";
import { envNumber, metric, note, onCleanup, removeAppliance } from "./util.js";

const MB = 1024 * 1024;
/** Writes measured during backups: backups are repeated (up to 5) until there are this many. */
const DURING_WRITES = 300;
const key = { passphrase: "benchmark passphrase" };

async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - t0) / 1000, value };
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] ?? Number.NaN;
}

/** Bytes under a folder (du -sb). */
const du = (dir: string) => Number(execFileSync("du", ["-sb", dir], { encoding: "utf8" }).split("\t")[0]);

/** `cp -r` of the data dir's services, config and secrets, then sync: the least a backup must do. */
function rawCopy(dataDir: string, to: string): number {
  const t0 = performance.now();
  execFileSync("mkdir", ["-p", to]);
  execFileSync("cp", ["-r", join(dataDir, "services"), join(dataDir, "secrets"), to]);
  execFileSync("sync");
  return (performance.now() - t0) / 1000;
}

export async function backupBench(): Promise<void> {
  const totalMb = envNumber("BENCH_BACKUP_MB", 128);
  const files = envNumber("BENCH_BACKUP_FILES", 8);
  process.env.NEXUS_BACKUP_SCRYPT_WORK_FACTOR ??= "18";
  const app = await startTestAppliance({
    services: ["identity", "files"],
    env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "1000000" },
  });
  onCleanup(() => removeAppliance(app));
  const admin = await setupAdmin(app);
  const user = await addPerson(app, admin, "writer", ["field-agent"]);
  for (let i = 0; i < files; i++) {
    const r = await filesCall(app, user.token, "PUT", `/spaces/me/content/${enc(`bench/${i}.bin`)}`, {
      body: randomBytes(Math.round((totalMb * MB) / files)),
    });
    if (r.status !== 201) throw new Error(`upload failed: ${r.status} ${r.text}`);
  }
  const work = tempDir("nexus-bench-backup-");
  onCleanup(async () => {
    execFileSync("rm", ["-rf", work]);
  });
  const dataBytes = du(join(app.dataDir, "services")) + du(join(app.dataDir, "secrets"));
  note(`data: ${(dataBytes / MB).toFixed(1)} MiB in ${app.dataDir}`);

  // Write latency of one client (small uploads, one at a time) for `ms`, or until `until` resolves.
  const writeLatencies = async (until: Promise<unknown>) => {
    const lat: number[] = [];
    let done = false;
    until.finally(() => {
      done = true;
    });
    for (let n = 0; !done; n++) {
      const t0 = performance.now();
      const r = await filesCall(
        app,
        user.token,
        "PUT",
        `/spaces/me/content/${enc(`lat/${n}-${Math.random()}.txt`)}`,
        {
          body: `write ${n}`,
        },
      );
      if (r.status !== 201) throw new Error(`write failed: ${r.status}`);
      lat.push(performance.now() - t0);
    }
    return lat;
  };

  const quiet = await writeLatencies(new Promise((r) => setTimeout(r, 4000)));
  const cp = rawCopy(app.dataDir, join(work, "cp"));
  // Throughput alone, then the write latency during a second full backup (to another folder).
  const dest = folderDestination(join(work, "dest"));
  const backup = await timed(() => createBackup({ dataDir: app.dataDir, destination: dest, key }));
  const second = await timed(() => createBackup({ dataDir: app.dataDir, destination: dest, key }));
  // Full backups to fresh folders, one after the other, while the client writes, until there are enough
  // writes for a p99 that is not just the slowest one or two (a backup of this box takes a few seconds).
  const during: number[] = [];
  const barriers: number[] = [];
  for (let run = 0; run < 5 && during.length < DURING_WRITES; run++) {
    const destDuring = folderDestination(join(work, `dest-during-${run}`));
    const duringRun = createBackup({ dataDir: app.dataDir, destination: destDuring, key });
    during.push(...(await writeLatencies(duringRun)));
    const { sealed } = await openBackupManifest(destDuring, (await duringRun).id, key);
    barriers.push(sealed.writeBarrierMs);
  }
  const cpBack = rawCopy(join(work, "cp"), join(work, "cp-back"));
  const restore = await timed(() =>
    restoreBackup({ dataDir: join(work, "restored"), destination: dest, id: backup.value.id, key }),
  );
  // The fixed cost of a passphrase backup: one scrypt (work factor 18) to seal the manifest, started when the
  // backup starts and run while it copies (opening the previous manifest is skipped for this process's own).
  const scrypt = await timed(async () => {
    const e = new Encrypter();
    e.addRecipient(scryptRecipient(key.passphrase, 18));
    await e.encrypt("x");
  });

  // Recipient mode (no scrypt): a full backup to its own folder and a restore of it.
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const destR = folderDestination(join(work, "dest-recipient"));
  const backupR = await timed(() =>
    createBackup({ dataDir: app.dataDir, destination: destR, key: { recipient } }),
  );
  const restoreR = await timed(() =>
    restoreBackup({
      dataDir: join(work, "restored-recipient"),
      destination: destR,
      id: backupR.value.id,
      key: { identity },
    }),
  );

  const mb = dataBytes / MB;
  metric("backup_data_mb", mb, 1);
  metric("cp_mb_per_s", mb / cp, 1);
  metric("backup_mb_per_s", mb / backup.seconds, 1);
  metric("backup_throughput_ratio", cp / backup.seconds);
  metric("backup_recipient_mb_per_s", mb / backupR.seconds, 1);
  metric("backup_throughput_ratio_recipient", cp / backupR.seconds);
  metric("restore_recipient_mb_per_s", mb / restoreR.seconds, 1);
  metric("restore_throughput_ratio_recipient", cpBack / restoreR.seconds);
  metric("backup_scrypt_s", scrypt.seconds, 2);
  metric("backup_incremental_s", second.seconds, 2);
  metric("backup_incremental_blobs_copied", second.value.blobsCopied);
  metric("restore_mb_per_s", mb / restore.seconds, 1);
  metric("restore_throughput_ratio", cpBack / restore.seconds);
  metric("backup_write_barrier_ms", Math.max(...barriers), 1);
  metric("backup_runs_during_writes", barriers.length, 0);
  metric("write_p99_ms_quiet", p99(quiet), 1);
  metric("write_p99_ms_during_backup", p99(during), 1);
  metric("backup_write_p99_ratio", p99(during) / p99(quiet), 2);
  metric("writes_quiet", quiet.length, 0);
  metric("writes_during_backup", during.length, 0);
}
