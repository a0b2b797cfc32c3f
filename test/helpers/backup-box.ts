/** A small data dir for backup tests: real SQLite files, a real local blob store, config.json and secrets/. */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import Database from "better-sqlite3";
import { openDatabase } from "../../appliance/kit/db.js";
import { LocalBlobStore } from "../../services/files/blob-store/index.js";

/** Writes a data dir with `files` (versions → blobs) and `identity` databases; returns the blobs' hashes. */
export async function makeBackupBox(dataDir: string, opts: { blobs?: number; blobBytes?: number } = {}) {
  const files = openDatabase(join(dataDir, "services", "files", "files.db"));
  files.exec("CREATE TABLE versions (id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL)");
  const store = new LocalBlobStore(join(dataDir, "services", "files", "blobs"));
  await store.init();
  const hashes: string[] = [];
  for (let i = 0; i < (opts.blobs ?? 3); i++) {
    const body = randomBytes(opts.blobBytes ?? 100_000 + i);
    const sha = createHash("sha256").update(body).digest("hex");
    const tmp = join(dataDir, `blob-${i}`);
    writeFileSync(tmp, body);
    await store.put(sha, { file: tmp }, body.length);
    files.prepare("INSERT INTO versions (sha256, size) VALUES (?, ?)").run(sha, body.length);
    hashes.push(sha);
  }
  await store.close();
  files.close();
  const identity = openDatabase(join(dataDir, "services", "identity", "identity.db"));
  identity.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)");
  for (let i = 0; i < 20; i++) identity.prepare("INSERT INTO users (name) VALUES (?)").run(`user-${i}`);
  identity.close();
  writeFileSync(join(dataDir, "config.json"), '{"site":"backup-test"}\n');
  mkdirSync(join(dataDir, "secrets"), { recursive: true });
  writeFileSync(join(dataDir, "secrets", "admin.token"), "secret-token\n");
  return hashes;
}

/** Every table of every service database, as rows, for "identical after restore" checks. */
export function dumpDatabases(dataDir: string): Record<string, Record<string, unknown[]>> {
  const out: Record<string, Record<string, unknown[]>> = {};
  const root = join(dataDir, "services");
  for (const s of readdirSync(root).sort()) {
    let db: Database.Database;
    try {
      db = new Database(join(root, s, `${s}.db`), { readonly: true, fileMustExist: true });
    } catch {
      continue;
    }
    const tables = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .all() as { name: string }[];
    out[s] = {};
    for (const { name } of tables) out[s][name] = db.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all();
    db.close();
  }
  return out;
}

/** sha256 of every file under a folder (blob stores), by relative path. */
export async function hashTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p, `${rel}${e.name}/`);
      else {
        const h = createHash("sha256");
        await pipeline(createReadStream(p), h);
        out[`${rel}${e.name}`] = h.digest("hex");
      }
    }
  };
  await walk(dir, "");
  return out;
}
