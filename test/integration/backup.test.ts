/**
 * Backups of a real running box (identity, files, system as their own processes): users, some MB of files,
 * settings and an unsynced outbox → backup while 4 clients write → restore is a consistent prefix; then the
 * stopped box → `nexus backup create` → wipe → `nexus backup restore` → every row and blob identical, and
 * the box starts on the restored data with its users and files.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBackup, folderDestination, listBackups, restoreBackup } from "../../appliance/backup/index.js";
import {
  ROOT,
  removeDir,
  startTestAppliance,
  type TestAppliance,
  TSX,
  tempDir,
} from "../helpers/appliance.js";
import { dumpDatabases, hashTree } from "../helpers/backup-box.js";
import { enc, filesCall, sha256 } from "../helpers/files.js";
import { addPerson, login, type Person, setupAdmin } from "../helpers/people.js";

const run = promisify(execFile);
const PASS = "a long backup passphrase";
const env = { ...process.env, NEXUS_BACKUP_PASSPHRASE: PASS, NEXUS_BACKUP_SCRYPT_WORK_FACTOR: "12" };
/** The CLI from source (tsx), as `nexus -d <dataDir> …`. */
const nexus = (dataDir: string, ...args: string[]) =>
  run(process.execPath, ["--import", TSX, join(ROOT, "appliance/cli/main.ts"), "-d", dataDir, ...args], {
    env,
    timeout: 60_000,
  });

let app: TestAppliance | null = null;
let alice: Person;
let base: string;
const uploaded = new Map<string, string>();
const SERVICES = ["identity", "files", "system"];

const put = (p: Person, path: string, body: Buffer) =>
  filesCall(app!, p.token, "PUT", `/spaces/me/content/${enc(path)}`, { body });

beforeAll(async () => {
  process.env.NEXUS_BACKUP_SCRYPT_WORK_FACTOR = "12";
  base = tempDir("nexus-backup-box-");
  app = await startTestAppliance({ services: SERVICES, env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000" } });
  const admin = await setupAdmin(app);
  alice = await addPerson(app, admin, "alice", ["field-agent"]);
  await addPerson(app, admin, "bob", ["viewer"]);
  for (let i = 0; i < 4; i++) {
    const body = randomBytes(768 * 1024 + i);
    expect((await put(alice, `docs/report-${i}.bin`, body)).status).toBe(201);
    uploaded.set(`docs/report-${i}.bin`, sha256(body));
  }
  const r = await app.api("/api/system/settings/box-name", {
    method: "PUT",
    headers: { "content-type": "application/json", authorization: `Bearer ${admin.token}` },
    body: JSON.stringify({ value: "field office" }),
  });
  expect(r.status).toBe(200);
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
  removeDir(base);
});

/** Rows of one table of a restored database. */
function rows<T>(dataDir: string, service: string, sql: string): T[] {
  const db = new Database(join(dataDir, "services", service, `${service}.db`), { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

describe("backup of a running box", () => {
  it("taken while 4 clients write, restores to a consistent prefix", async () => {
    let stop = false;
    let written = 0;
    const failures: string[] = [];
    const writer = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const r = await put(alice, `busy/w${w}/f${n}.bin`, randomBytes(8_000 + n));
        if (r.status === 201) written++;
        else failures.push(`${r.status} ${r.text.slice(0, 100)}`);
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    while (written < 20) await new Promise((r) => setTimeout(r, 20));
    const dest = folderDestination(join(base, "busy-dest"));
    const summary = await createBackup({
      dataDir: app!.dataDir,
      destination: dest,
      key: { passphrase: PASS },
    });
    const writtenAtEnd = written;
    stop = true;
    await Promise.all(writers);
    expect(failures).toEqual([]);

    const restored = join(base, "busy-restored");
    await restoreBackup({ dataDir: restored, destination: dest, id: summary.id, key: { passphrase: PASS } });
    const versions = rows<{ node_id: string; version: number; sha256: string }>(
      restored,
      "files",
      "SELECT node_id, version, sha256 FROM versions",
    );
    const busy = rows<{ n: number }>(
      restored,
      "files",
      "SELECT count(*) AS n FROM nodes WHERE name LIKE 'f%.bin'",
    )[0]!.n;
    expect(busy).toBeGreaterThanOrEqual(20);
    expect(busy).toBeLessThanOrEqual(writtenAtEnd + 4);
    // No file version without its blob, its change record for the hub, or its place in the hub blob queue.
    const blobs = new Set(
      Object.keys(await hashTree(join(restored, "services", "files", "blobs"))).map((p) =>
        p.split("/").at(-1),
      ),
    );
    const records = new Set(
      rows<{ payload: string }>(
        restored,
        "files",
        "SELECT payload FROM _outbox WHERE subject LIKE 'sync.%'",
      ).map((r) => (JSON.parse(r.payload) as { key: string }).key),
    );
    const queued = new Set(
      rows<{ sha256: string }>(restored, "files", "SELECT sha256 FROM blob_sync").map((r) => r.sha256),
    );
    for (const v of versions) {
      expect(blobs.has(v.sha256), `blob of ${v.node_id}:${v.version}`).toBe(true);
      expect(records.has(`${v.node_id}:${v.version}`), `record of ${v.node_id}:${v.version}`).toBe(true);
      expect(queued.has(v.sha256)).toBe(true);
    }
    // And no change record without its row.
    const keys = new Set(versions.map((v) => `${v.node_id}:${v.version}`));
    for (const k of records) expect(keys.has(k), `row of record ${k}`).toBe(true);
  }, 120_000);

  it("stopped box → nexus backup create → wipe → nexus backup restore: every row and blob identical", async () => {
    const dataDir = app!.dataDir;
    const to = join(base, "cli-dest");
    await app!.stop();
    app = null;
    const tables = dumpDatabases(dataDir);
    const blobs = await hashTree(join(dataDir, "services", "files", "blobs"));
    expect(Object.keys(tables).sort()).toEqual([...SERVICES].sort());
    const unsynced = rows<{ n: number }>(
      dataDir,
      "files",
      "SELECT count(*) AS n FROM _outbox WHERE subject LIKE 'sync.%'",
    );
    expect(unsynced[0]!.n).toBeGreaterThan(0);

    const created = JSON.parse((await nexus(dataDir, "backup", "create", "--to", to, "--json")).stdout);
    expect(created.blobsReferenced).toBe(Object.keys(blobs).length);
    const dest = folderDestination(to);
    expect((await listBackups(dest)).map((b) => b.id)).toEqual([created.id]);
    const again = await createBackup({ dataDir, destination: dest, key: { passphrase: PASS } });
    expect(again.blobsCopied).toBe(0);

    for (const f of ["services", "secrets", "config.json"])
      rmSync(join(dataDir, f), { recursive: true, force: true });
    const dry = await restoreBackup({
      dataDir,
      destination: dest,
      id: created.id,
      key: { passphrase: PASS },
      dryRun: true,
    });
    expect(dry.changes).toContainEqual({ path: "services/identity/identity.db", action: "create" });
    expect(readdirSync(dataDir)).not.toContain("services");
    const wrong = await run(
      process.execPath,
      [
        "--import",
        TSX,
        join(ROOT, "appliance/cli/main.ts"),
        "-d",
        dataDir,
        "backup",
        "restore",
        created.id,
        "--to",
        to,
      ],
      { env: { ...env, NEXUS_BACKUP_PASSPHRASE: "not it" } },
    ).catch((e: { code: number; stderr: string }) => e);
    expect(wrong).toMatchObject({ code: 1, stderr: expect.stringMatching(/wrong passphrase or identity/) });
    await nexus(dataDir, "backup", "restore", created.id, "--to", to);
    expect(dumpDatabases(dataDir)).toEqual(tables);
    expect(await hashTree(join(dataDir, "services", "files", "blobs"))).toEqual(blobs);

    // The restored box starts and serves its users and files.
    app = await startTestAppliance({
      services: SERVICES,
      dataDir,
      env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000" },
    });
    const token = await login(app, "alice", alice.password);
    for (const [path, sha] of uploaded) {
      const r = await fetch(`${app.url}/api/files/spaces/me/content/${enc(path)}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(r.status).toBe(200);
      expect(sha256(Buffer.from(await r.arrayBuffer()))).toBe(sha);
    }
  }, 120_000);
});
