/** The backup engine on a real data dir (SQLite files, local blob store) and a folder destination. */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BackupKeyError,
  BackupTooNewError,
  createBackup,
  folderDestination,
  listBackups,
  parseDestination,
  pruneBackups,
  restoreBackup,
  verifyBackup,
} from "../../appliance/backup/index.js";
import { openDatabase } from "../../appliance/kit/db.js";
import { writePid } from "../../appliance/lib/pidfile.js";
import { dataPaths } from "../../appliance/paths.js";
import { removeDir, tempDir } from "../helpers/appliance.js";
import { dumpDatabases, hashTree, makeBackupBox } from "../helpers/backup-box.js";

const key = { passphrase: "correct horse battery staple" };
let base: string;
let dataDir: string;
const blobsOf = (d: string) => join(d, "services", "files", "blobs");

beforeAll(async () => {
  process.env.NEXUS_BACKUP_SCRYPT_WORK_FACTOR = "12";
  base = tempDir("nexus-backup-engine-");
  dataDir = join(base, "data");
  await makeBackupBox(dataDir);
});
afterAll(() => removeDir(base));

describe("backup engine", () => {
  it("backs up, lists, verifies, and restores onto a wiped box identically; the second backup copies no blob", async () => {
    const dest = folderDestination(join(base, "dest1"));
    const phases = new Set<string>();
    const first = await createBackup({
      dataDir,
      destination: dest,
      key,
      onProgress: (p) => phases.add(p.phase),
    });
    expect(first).toMatchObject({
      blobsCopied: 3,
      blobsReferenced: 3,
      secretsIncluded: true,
      siteId: "backup-test",
    });
    expect(phases).toContain("done");
    const second = await createBackup({ dataDir, destination: dest, key, reason: "scheduled" });
    expect(second).toMatchObject({ blobsCopied: 0, blobsReferenced: 3, reason: "scheduled" });
    expect((await listBackups(dest)).map((b) => b.id)).toEqual([second.id, first.id]);
    expect(await verifyBackup({ destination: dest, id: first.id, key })).toEqual({ ok: true });
    // Neither blob hashes nor file names are visible at the destination.
    const stored = readdirSync(join(base, "dest1", "blobs"));
    const hashes = Object.keys(await hashTree(blobsOf(dataDir))).map((p) => p.split("/").at(-1));
    expect(stored.some((n) => hashes.includes(n))).toBe(false);

    const tables = dumpDatabases(dataDir);
    const blobs = await hashTree(blobsOf(dataDir));
    const wiped = join(base, "fresh");
    const dry = await restoreBackup({ dataDir: wiped, destination: dest, id: second.id, key, dryRun: true });
    expect(dry.applied).toBe(false);
    expect(dry.changes).toContainEqual({ path: "services/files/files.db", action: "create" });
    expect(dry.changes.filter((c) => c.path.startsWith("blobs/"))).toHaveLength(3);
    const done = await restoreBackup({ dataDir: wiped, destination: dest, id: second.id, key });
    expect(done.applied).toBe(true);
    expect(dumpDatabases(wiped)).toEqual(tables);
    expect(await hashTree(blobsOf(wiped))).toEqual(blobs);
    expect(readFileSync(join(wiped, "secrets", "admin.token"), "utf8")).toBe("secret-token\n");
    expect(readdirSync(wiped).sort()).toEqual(["backups", "config.json", "secrets", "services"]);

    // Restoring onto the same box after changes puts the backup's state back.
    const db = openDatabase(join(wiped, "services", "identity", "identity.db"));
    db.exec("DELETE FROM users WHERE id > 5");
    db.close();
    await restoreBackup({ dataDir: wiped, destination: dest, id: first.id, key });
    expect(dumpDatabases(wiped)).toEqual(tables);
  });

  it("a flipped byte in a part: verify and restore name it, and the box is left as it was", async () => {
    const dest = folderDestination(join(base, "dest2"));
    const b = await createBackup({ dataDir, destination: dest, key });
    const partsDir = join(base, "dest2", "snapshots", b.id, "parts");
    const part = readdirSync(partsDir).sort()[0]!;
    const file = join(partsDir, part);
    const bytes = readFileSync(file);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 20) ^ 0x01, bytes.length - 20);
    writeFileSync(file, bytes);
    const v = await verifyBackup({ destination: dest, id: b.id, key });
    expect(v).toEqual({
      ok: false,
      problems: [{ part: `snapshots/${b.id}/parts/${part}`, reason: expect.any(String) }],
    });
    const target = join(base, "target2");
    await expect(restoreBackup({ dataDir: target, destination: dest, id: b.id, key })).rejects.toThrow(
      `snapshots/${b.id}/parts/${part}`,
    );
    expect(readdirSync(target)).toEqual(["backups"]);

    // A damaged blob is named too.
    const blob = readdirSync(join(base, "dest2", "blobs"))[0]!;
    const blobFile = join(base, "dest2", "blobs", blob);
    const bb = readFileSync(blobFile);
    bb.writeUInt8(bb.readUInt8(100) ^ 0x80, 100);
    writeFileSync(blobFile, bb);
    const v2 = await verifyBackup({ destination: dest, id: b.id, key });
    expect(v2.ok === false && v2.problems.map((p) => p.part)).toContain(`blobs/${blob}`);
  });

  it("a wrong passphrase is a clear error; a recipient backup restores with its identity only", async () => {
    const dest = folderDestination(join(base, "dest3"));
    const b = await createBackup({ dataDir, destination: dest, key });
    const wrong = { passphrase: "wrong" };
    await expect(
      restoreBackup({ dataDir: join(base, "t3"), destination: dest, id: b.id, key: wrong }),
    ).rejects.toThrow(BackupKeyError);
    await expect(
      restoreBackup({ dataDir: join(base, "t3"), destination: dest, id: b.id, key: wrong }),
    ).rejects.toThrow(/wrong passphrase or identity/);
    const v = await verifyBackup({ destination: dest, id: b.id, key: wrong });
    expect(v.ok).toBe(false);

    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    const r = await createBackup({ dataDir, destination: dest, key: { recipient } });
    expect(await verifyBackup({ destination: dest, id: r.id, key: { identity } })).toEqual({ ok: true });
    const other = await generateX25519Identity();
    await expect(
      verifyBackup({ destination: dest, id: r.id, key: { identity: other } }),
    ).resolves.toMatchObject({
      ok: false,
    });
    const t = join(base, "t4");
    await restoreBackup({ dataDir: t, destination: dest, id: r.id, key: { identity } });
    expect(dumpDatabases(t)).toEqual(dumpDatabases(dataDir));
  });

  it("refuses a backup from a newer schema, and a restore while the box runs", async () => {
    const dest = folderDestination(join(base, "dest4"));
    const newer = join(base, "newer");
    await makeBackupBox(newer, { blobs: 1 });
    const db = openDatabase(join(newer, "services", "files", "files.db"));
    db.exec("CREATE TABLE _migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)");
    db.prepare("INSERT INTO _migrations VALUES ('9999999999_from_the_future', 'now')").run();
    db.close();
    const b = await createBackup({ dataDir: newer, destination: dest, key });
    const t = join(base, "t5");
    await expect(restoreBackup({ dataDir: t, destination: dest, id: b.id, key })).rejects.toThrow(
      BackupTooNewError,
    );
    await expect(restoreBackup({ dataDir: t, destination: dest, id: b.id, key })).rejects.toThrow(
      /9999999999_from_the_future/,
    );

    const ok = await createBackup({ dataDir, destination: dest, key });
    const running = join(base, "running");
    rmSync(running, { recursive: true, force: true });
    await makeBackupBox(running, { blobs: 0 });
    const paths = dataPaths(running);
    mkdirSync(paths.run, { recursive: true });
    writePid(paths.supervisorPid, process.pid);
    await expect(restoreBackup({ dataDir: running, destination: dest, id: ok.id, key })).rejects.toThrow(
      /appliance is running/,
    );
    const dry = await restoreBackup({ dataDir: running, destination: dest, id: ok.id, key, dryRun: true });
    expect(dry.changes).toContainEqual({ path: "services/files/files.db", action: "replace" });
  });

  it("prune removes what no rule keeps and the blobs only those used; the kept backup still verifies", async () => {
    const destDir = join(base, "dest5");
    const dest = folderDestination(destDir);
    const box = join(base, "pruned");
    await makeBackupBox(box, { blobs: 2 });
    const old = await createBackup({ dataDir: box, destination: dest, key });
    // The box loses one file: the next backup references one of the two blobs.
    const db = openDatabase(join(box, "services", "files", "files.db"));
    db.exec("DELETE FROM versions WHERE id = 1");
    db.close();
    const b2 = await createBackup({ dataDir: box, destination: dest, key });
    expect(b2).toMatchObject({ blobsReferenced: 1, blobsCopied: 0 });
    expect(readdirSync(join(destDir, "blobs"))).toHaveLength(2);

    const dry = await pruneBackups({
      destination: dest,
      policy: { keepLast: 1, keepDaily: 0, keepWeekly: 0 },
      dryRun: true,
    });
    expect(dry).toEqual({ kept: [b2.id], removed: [old.id] });
    expect(readdirSync(join(destDir, "snapshots"))).toHaveLength(2);
    await pruneBackups({ destination: dest, policy: { keepLast: 1, keepDaily: 0, keepWeekly: 0 } });
    expect((await listBackups(dest)).map((b) => b.id)).toEqual([b2.id]);
    expect(readdirSync(join(destDir, "snapshots"))).toEqual([b2.id]);
    expect(readdirSync(join(destDir, "blobs"))).toHaveLength(1);
    expect(await verifyBackup({ destination: dest, id: b2.id, key })).toEqual({ ok: true });
  });

  it("parseDestination: folders and file:// URLs; other schemes and empty specs are refused", async () => {
    expect(parseDestination(join(base, "x")).description).toBe(`folder ${join(base, "x")}`);
    expect(parseDestination(`file://${join(base, "y")}`).kind).toBe("folder");
    expect(() => parseDestination("ftp://example.org/b")).toThrow(/unknown backup destination/);
    expect(() => parseDestination("  ")).toThrow(/folder path/);
    const dest = folderDestination(join(base, "z"));
    await expect(dest.has("../escape")).rejects.toThrow(/not a backup key/);
    await expect(dest.put("blobs/../../x", Buffer.from("x"))).rejects.toThrow(/not a backup key/);
  });
});
