import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { removeDir, tempDir } from "../../test/helpers/appliance.js";
import { openDatabase } from "../kit/db.js";
import { writePid } from "../lib/pidfile.js";
import { dataPaths } from "../paths.js";
import { upgradeSnapshotRoot, upgradeSnapshots } from "./upgrade-snapshot.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

/** A data dir with two service databases (one with an open WAL), config.json and secrets/. */
function box(): string {
  const dataDir = tempDir("nexus-upgrade-snap-");
  dirs.push(dataDir);
  for (const s of ["files", "identity"]) {
    const db = openDatabase(join(dataDir, "services", s, `${s}.db`));
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    for (let i = 0; i < 50; i++) db.prepare("INSERT INTO t (v) VALUES (?)").run(`${s}-${i}`);
    db.close();
  }
  writeFileSync(join(dataDir, "config.json"), '{"site":"a"}\n');
  mkdirSync(join(dataDir, "secrets"));
  writeFileSync(join(dataDir, "secrets", "admin.token"), "old-token\n");
  return dataDir;
}

function dump(dataDir: string, s: string): unknown {
  const db = openDatabase(join(dataDir, "services", s, `${s}.db`));
  try {
    const tables = db.prepare("SELECT name, sql FROM sqlite_master ORDER BY name").all() as {
      name: string;
    }[];
    return { tables, rows: db.prepare("SELECT * FROM t ORDER BY id").all() };
  } finally {
    db.close();
  }
}

describe("upgradeSnapshots", () => {
  it("take, migrate, restore gives back the data exactly; discard removes it", async () => {
    const dataDir = box();
    // A writer keeps its WAL open while the snapshot is taken (the box is "about to be stopped").
    const live = openDatabase(join(dataDir, "services", "files", "files.db"));
    live.prepare("INSERT INTO t (v) VALUES ('in-wal')").run();
    const before = { files: dump(dataDir, "files"), identity: dump(dataDir, "identity") };
    const { id } = await upgradeSnapshots.take({ dataDir, fromVersion: "0.1.0", toVersion: "0.2.0" });
    expect(readdirSync(upgradeSnapshotRoot(dataDir))).toEqual([id]);

    // The "upgrade": a migration, new rows, a new service, a changed config and a new secret.
    live.exec("ALTER TABLE t ADD COLUMN extra TEXT; INSERT INTO t (v, extra) VALUES ('new', 'x')");
    live.close();
    const added = openDatabase(join(dataDir, "services", "search", "search.db"));
    added.exec("CREATE TABLE x (a)");
    added.close();
    writeFileSync(join(dataDir, "config.json"), '{"site":"a","new":true}\n');
    writeFileSync(join(dataDir, "secrets", "new.key"), "k");
    writeFileSync(join(dataDir, "secrets", "admin.token"), "new-token\n");

    await upgradeSnapshots.restore({ dataDir, id });
    expect({ files: dump(dataDir, "files"), identity: dump(dataDir, "identity") }).toEqual(before);
    expect((before.files as { rows: { v: string }[] }).rows.at(-1)?.v).toBe("in-wal");
    expect(existsSync(join(dataDir, "services", "search", "search.db"))).toBe(false);
    expect(readFileSync(join(dataDir, "config.json"), "utf8")).toBe('{"site":"a"}\n');
    expect(readdirSync(join(dataDir, "secrets"))).toEqual(["admin.token"]);
    expect(readFileSync(join(dataDir, "secrets", "admin.token"), "utf8")).toBe("old-token\n");
    expect(existsSync(join(dataDir, "restore-incomplete.json"))).toBe(false);

    // Restoring again is harmless (a rerun after a kill -9 mid-restore does the same).
    await upgradeSnapshots.restore({ dataDir, id });
    expect(dump(dataDir, "files")).toEqual(before.files);

    await upgradeSnapshots.discard({ dataDir, id });
    expect(readdirSync(upgradeSnapshotRoot(dataDir))).toEqual([]);
    await upgradeSnapshots.discard({ dataDir, id }); // absent: not an error
  });

  it("refuses to restore while the box runs, a damaged snapshot, and ids that are paths", async () => {
    const dataDir = box();
    const { id } = await upgradeSnapshots.take({ dataDir, fromVersion: "0.1.0", toVersion: "0.2.0" });
    mkdirSync(dataPaths(dataDir).run, { recursive: true });
    writePid(dataPaths(dataDir).supervisorPid, process.pid);
    await expect(upgradeSnapshots.restore({ dataDir, id })).rejects.toThrow(/appliance is running/);
    writePid(dataPaths(dataDir).supervisorPid, 999_999_999);

    const copy = join(upgradeSnapshotRoot(dataDir), id, "data", "config.json");
    writeFileSync(copy, '{"site":"b"}\n');
    await expect(upgradeSnapshots.restore({ dataDir, id })).rejects.toThrow(/damaged: config.json/);
    await expect(upgradeSnapshots.restore({ dataDir, id: "../../etc" })).rejects.toThrow(/not an upgrade/);
    await expect(upgradeSnapshots.discard({ dataDir, id: "../x" })).rejects.toThrow(/not an upgrade/);
  });
});
