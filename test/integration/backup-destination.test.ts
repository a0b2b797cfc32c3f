/**
 * The folder destination under failure: a full disk (a small tmpfs, needs root as CI has) and a kill -9 of
 * a backup mid-way. Neither leaves a half backup listed; earlier backups stay valid.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INCOMPLETE_MARKER } from "../../appliance/backup/apply.js";
import {
  BackupDestinationFullError,
  createBackup,
  folderDestination,
  listBackups,
  pruneBackups,
  verifyBackup,
} from "../../appliance/backup/index.js";
import { removeStaleStaging } from "../../appliance/backup/prune.js";
import { ROOT, removeDir, spawnFixture, TSX, tempDir, waitFor } from "../helpers/appliance.js";
import { makeBackupBox } from "../helpers/backup-box.js";
import { stopChild } from "../helpers/processes.js";

const run = promisify(execFile);
const key = { passphrase: "destination test" };
let base: string;
let mountPoint = "";

/** Every file under a folder, relative. */
function filesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

beforeAll(() => {
  process.env.NEXUS_BACKUP_SCRYPT_WORK_FACTOR = "12";
  base = tempDir("nexus-backup-dest-");
});
afterAll(() => {
  if (mountPoint) execFileSync("umount", ["-l", mountPoint]);
  removeDir(base);
});

describe("an unfinished restore", () => {
  it("nexus up refuses to start until the restore is run again", async () => {
    const dataDir = join(base, "half-restored");
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, INCOMPLETE_MARKER), '{"restore":"backup 20261207T153000Z-0badc0de"}\n');
    const r = await run(process.execPath, [
      "--import",
      TSX,
      join(ROOT, "appliance/cli/main.ts"),
      "-d",
      dataDir,
      "up",
    ]).catch((e: { code: number; stderr: string }) => e);
    expect(r).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("restore of backup 20261207T153000Z-0badc0de did not finish"),
    });
  });
});

describe("folder destination", () => {
  it("disk full: the backup fails cleanly, nothing half is left, the earlier backup stays valid", async () => {
    if (process.getuid?.() !== 0)
      throw new Error("the disk-full test mounts a tmpfs and must run as root (CI does)");
    mountPoint = join(base, "usb");
    mkdirSync(mountPoint);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mountPoint]);
    const small = join(base, "small");
    await makeBackupBox(small, { blobs: 2, blobBytes: 200_000 });
    const dest = folderDestination(mountPoint);
    const first = await createBackup({ dataDir: small, destination: dest, key });
    const before = filesIn(mountPoint).sort();

    const big = join(base, "big");
    await makeBackupBox(big, { blobs: 2, blobBytes: 2_000_000 });
    await expect(createBackup({ dataDir: big, destination: dest, key })).rejects.toThrow(
      BackupDestinationFullError,
    );
    expect(filesIn(mountPoint).filter((f) => f.includes(".tmp-"))).toEqual([]);
    expect((await listBackups(dest)).map((b) => b.id)).toEqual([first.id]);
    expect(await verifyBackup({ destination: dest, id: first.id, key })).toEqual({ ok: true });
    // The failed run's parts are gone; only blobs it finished remain (the next backup reuses them).
    expect(
      filesIn(mountPoint)
        .filter((f) => f.startsWith("snapshots/"))
        .sort(),
    ).toEqual(before.filter((f) => f.startsWith("snapshots/")));
    expect(
      existsSync(join(big, "backups", "staging")) && readdirSync(join(big, "backups", "staging")),
    ).toEqual([]);
  });

  it("kill -9 mid-backup: no half backup is listed, and the leftovers are cleaned later", async () => {
    const dataDir = join(base, "killed");
    await makeBackupBox(dataDir, { blobs: 2, blobBytes: 48 * 1024 * 1024 });
    const destDir = join(base, "killed-dest");
    const { child, out } = spawnFixture("backup-create.ts", [dataDir, destDir, key.passphrase]);
    // Kill it while the first big blob is being written (its temporary file is there).
    await waitFor(
      () =>
        existsSync(join(destDir, "blobs")) &&
        readdirSync(join(destDir, "blobs")).some((f) => f.includes(".tmp-")),
      60_000,
      `a blob being written; output:\n${out()}`,
    );
    await stopChild(child, "SIGKILL");
    expect(out()).not.toContain("done");
    const dest = folderDestination(destDir);
    expect(await listBackups(dest)).toEqual([]);
    const leftovers = filesIn(destDir);
    expect(leftovers.some((f) => f.startsWith("snapshots/"))).toBe(true);

    // A later run finds the leftovers: a temporary file over an hour old and a snapshot without manifest.
    const old = new Date(Date.now() - 2 * 3600_000);
    for (const f of leftovers.filter((x) => x.includes(".tmp-"))) utimesSync(join(destDir, f), old, old);
    await pruneBackups({
      destination: dest,
      policy: { keepLast: 1, keepDaily: 0, keepWeekly: 0 },
      now: new Date(Date.now() + 2 * 3600_000),
    });
    expect(filesIn(destDir)).toEqual([]);
    expect(statSync(destDir).isDirectory()).toBe(true);
    // The killed run's staging copy in the data dir goes with the next backup once it is an hour old.
    const staging = join(dataDir, "backups", "staging");
    expect(readdirSync(staging)).toHaveLength(1);
    await removeStaleStaging(dataDir, new Date(Date.now() + 2 * 3600_000));
    expect(readdirSync(staging)).toEqual([]);
  }, 120_000);
});
