/**
 * Consistent copies of every service database while the box keeps serving.
 *
 * Invariant: the copies form one cut across services. Every database is opened twice; one connection per
 * database takes `BEGIN IMMEDIATE` (the write lock) on all of them first, then the other connection copies
 * each with `VACUUM INTO` (a WAL reader, so it is not blocked by the held write lock), then the locks are
 * released. Writers wait on their busy timeout during that window (measured and returned as `blockedMs`);
 * readers never wait. A change committed in one service and its consequence in another are both in the
 * copies or both not.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { serviceDbPath } from "../kit/context.js";
import { SERVICE_NAME } from "../lib/names.js";

/** One copied database. */
export interface DbCopy {
  service: string;
  /** The copy: a self-contained SQLite file (no -wal). */
  file: string;
  /** The migration ids the database had applied, for "this backup is newer than this code" checks. */
  migrations: string[];
}

/** The services that have a database in the data dir, sorted. */
export function serviceDatabases(dataDir: string): string[] {
  const root = join(dataDir, "services");
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && SERVICE_NAME.test(d.name) && existsSync(serviceDbPath(dataDir, d.name)))
    .map((d) => d.name)
    .sort();
}

/** Copies every service database to `outFile(service)` (its folder must exist) under one write barrier. */
export function copyDatabases(
  dataDir: string,
  outFile: (service: string) => string,
): { copies: DbCopy[]; blockedMs: number } {
  const services = serviceDatabases(dataDir);
  const open = (s: string) => {
    const db = new Database(serviceDbPath(dataDir, s), { fileMustExist: true });
    db.pragma("busy_timeout = 10000");
    return db;
  };
  const lockers = services.map(open);
  const readers = services.map(open);
  const copies: DbCopy[] = [];
  let start = 0;
  try {
    start = performance.now();
    for (const l of lockers) l.exec("BEGIN IMMEDIATE");
    services.forEach((service, i) => {
      const file = outFile(service);
      readers[i]!.prepare("VACUUM INTO ?").run(file);
      copies.push({ service, file, migrations: appliedMigrations(readers[i]!) });
    });
  } finally {
    for (const l of lockers) if (l.inTransaction) l.exec("ROLLBACK");
    for (const db of [...lockers, ...readers]) db.close();
  }
  return { copies, blockedMs: performance.now() - start };
}

/** The migration ids a database has applied (empty for a database without `_migrations`). */
export function appliedMigrations(db: Database.Database): string[] {
  const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'").get();
  if (!has) return [];
  return (db.prepare("SELECT id FROM _migrations ORDER BY id").all() as { id: string }[]).map((r) => r.id);
}
