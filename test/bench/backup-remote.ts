/**
 * Backups to the remote destinations: MB/s of `createBackup` of the same data dir to S3 (s3rver, its own
 * process) and to the hub (a real hub process, unlimited rate), against the folder destination in the same
 * run; and how close the hub upload stays to its configured rate limit.
 *
 *   backup_s3_ratio       = S3 MB/s / folder MB/s
 *   backup_hub_ratio      = hub MB/s / folder MB/s
 *   hub_rate_limit_ratio  = achieved upload bytes/s / configured limit (goal ≤ 1, close to it)
 *
 * Knobs: BENCH_BACKUP_REMOTE_MB (32: file content), BENCH_BACKUP_REMOTE_RATE_MB (4: the limited upload).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hubDestination } from "../../appliance/backup/destination-hub.js";
import { s3Destination } from "../../appliance/backup/destination-s3.js";
import { createBackup, folderDestination } from "../../appliance/backup/index.js";
import type { BackupDestination } from "../../appliance/backup/types.js";
import type { HubLink } from "../../appliance/sync/hub-link.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { makeBackupBox } from "../helpers/backup-box.js";
import { enrolWith, hubProcess } from "../helpers/hub.js";
import { startS3Server } from "../helpers/s3-server.js";
import { envNumber, metric, note, onCleanup } from "./util.js";

const MB = 1024 * 1024;
const key = { passphrase: "benchmark passphrase" };

async function mbPerSecond(dataDir: string, destination: BackupDestination): Promise<number> {
  const t0 = performance.now();
  const s = await createBackup({ dataDir, destination, key });
  return s.sizeBytes / MB / ((performance.now() - t0) / 1000);
}

export async function backupRemoteBench(): Promise<void> {
  process.env.NEXUS_BACKUP_SCRYPT_WORK_FACTOR ??= "15";
  const totalMb = envNumber("BENCH_BACKUP_REMOTE_MB", 32);
  const rateMb = envNumber("BENCH_BACKUP_REMOTE_RATE_MB", 4);
  const base = tempDir("nexus-bench-backup-remote-");
  onCleanup(async () => removeDir(base));
  const dataDir = join(base, "data");
  await makeBackupBox(dataDir, { blobs: 8, blobBytes: Math.round((totalMb * MB) / 8) });

  note("folder");
  const folder = await mbPerSecond(dataDir, folderDestination(join(base, "folder")));
  metric("backup_folder_mb_per_s", folder);

  note("s3 (s3rver)");
  const s3 = await startS3Server();
  onCleanup(() => s3.stop());
  const s3dest = s3Destination({ ...s3, region: "us-east-1", bucket: "bench", prefix: "box/" });
  const s3rate = await mbPerSecond(dataDir, s3dest);
  s3dest.close();
  metric("backup_s3_mb_per_s", s3rate);
  metric("backup_s3_ratio", s3rate / folder);

  note("hub");
  const hub = await hubProcess();
  onCleanup(async () => {
    await hub.stop();
    removeDir(hub.dir);
  });
  await hub.start();
  await enrolWith(hub, join(base, "enrol"), "bench-site");
  const link = JSON.parse(readFileSync(join(base, "enrol", "secrets", "hub.json"), "utf8")) as HubLink;
  const hubRate = await mbPerSecond(dataDir, hubDestination(link, { bytesPerSecond: 0 }));
  metric("backup_hub_mb_per_s", hubRate);
  metric("backup_hub_ratio", hubRate / folder);

  note(`hub upload limited to ${rateMb} MiB/s`);
  const limited = hubDestination(link, { bytesPerSecond: rateMb * MB });
  const bytes = Math.min(totalMb, rateMb * 4) * MB;
  const t0 = performance.now();
  await limited.put("snapshots/bench/parts/rate", Buffer.alloc(bytes, 1));
  const achieved = bytes / ((performance.now() - t0) / 1000);
  metric("hub_rate_limit_ratio", achieved / (rateMb * MB));
}
