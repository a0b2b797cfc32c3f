/**
 * A service's own SQLite database: WAL, synchronous=FULL (anything acknowledged to a caller is on disk),
 * and ordered migrations, each applied in its own transaction and recorded in `_migrations`.
 */
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

export type Db = Database.Database;

/** One schema change. `id` orders migrations: use `<unix-ts>_<what>`. */
export interface Migration {
  id: string;
  up: (db: Db) => void;
}

/** Opens (creating if needed) a database file with the appliance's durability settings. */
export function openDatabase(file: string): Db {
  if (file !== ":memory:") {
    // Service databases hold secrets (identity's signing keys, password hashes): owner-only, and SQLite
    // gives its -wal and -shm files the database file's mode.
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    closeSync(openSync(file, "a", 0o600));
  }
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  return db;
}

/** Applies, in id order, every migration not yet recorded. Returns the ids it applied. */
export function migrate(db: Db, migrations: readonly Migration[]): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS _migrations (
    id TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL
  )`);
  const ids = migrations.map((m) => m.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup) throw new Error(`duplicate migration id ${dup}`);
  const done = new Set((db.prepare("SELECT id FROM _migrations").all() as { id: string }[]).map((r) => r.id));
  const record = db.prepare("INSERT INTO _migrations (id, applied_at) VALUES (?, ?)");
  const applied: string[] = [];
  for (const m of [...migrations].sort((a, b) => a.id.localeCompare(b.id))) {
    if (done.has(m.id)) continue;
    db.transaction(() => {
      m.up(db);
      record.run(m.id, new Date().toISOString());
    })();
    applied.push(m.id);
  }
  return applied;
}
