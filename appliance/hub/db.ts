/**
 * The hub's database: PGlite (WASM Postgres in a directory, the embedded default) or a real PostgreSQL by
 * connection string, behind one small interface so the store code and its SQL are the same on both.
 *
 * Invariants:
 * - SQL is always parameterised ($1, $2 …); one statement per query() call (PGlite's extended protocol
 *   takes one statement at a time, so the same holds on Postgres by convention).
 * - On PGlite there is one connection: transactions serialise, and code inside tx() must use the `q` it is
 *   given, never the HubDb itself (that would wait for the transaction it is running in).
 * - On Postgres every tx() runs on its own pooled client, at READ COMMITTED.
 * - Rows come back as each driver parses them: jsonb as values, timestamptz as Date; int8 differs (pg gives
 *   strings, PGlite numbers or bigint), so callers convert with Number().
 */
import { chmodSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";

/** What a query runs on: the database itself, or a transaction inside it. */
export interface HubQuery {
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface HubDb extends HubQuery {
  /** Runs fn in one transaction: committed when it resolves, rolled back when it throws. */
  tx<T>(fn: (q: HubQuery) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  kind: "pglite" | "postgres";
}

export type HubDbOptions = { kind: "pglite"; dir: string } | { kind: "postgres"; url: string; max?: number };

/** Opens the hub database; PGlite creates its data directory on first use. */
export function openHubDb(opts: HubDbOptions): Promise<HubDb> {
  return opts.kind === "pglite" ? openPglite(opts.dir) : openPostgres(opts.url, opts.max ?? 10);
}

async function openPglite(dir: string): Promise<HubDb> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lite = await PGlite.create(dir);
  // PGlite writes its files 0666 through the process umask; the data holds every site's records.
  restrictModes(dir);
  return {
    kind: "pglite",
    query: async <T>(sql: string, params?: unknown[]) => (await lite.query<T>(sql, params)).rows,
    tx: (fn) =>
      lite.transaction((t) =>
        fn({ query: async <T>(s: string, p?: unknown[]) => (await t.query<T>(s, p)).rows }),
      ),
    close: async () => {
      await lite.close();
      restrictModes(dir);
    },
  };
}

async function openPostgres(url: string, max: number): Promise<HubDb> {
  const pool = new pg.Pool({ connectionString: url, max });
  // An idle client losing its connection must not crash the hub; the next query gets a new one.
  pool.on("error", () => {});
  const onClient = (c: pg.PoolClient): HubQuery => ({
    query: async <T>(sql: string, params?: unknown[]) => (await c.query(sql, params)).rows as T[],
  });
  const db: HubDb = {
    kind: "postgres",
    query: async <T>(sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows as T[],
    tx: async (fn) => {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query("BEGIN");
        const out = await fn(onClient(client));
        await client.query("COMMIT");
        return out;
      } catch (err) {
        await client.query("ROLLBACK").catch((e: Error) => {
          broken = e;
        });
        throw err;
      } finally {
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
  // Fail at open, not at the first request, when the server is unreachable or refuses us.
  await db.query("SELECT 1").catch(async (err: unknown) => {
    await pool.end();
    throw err;
  });
  return db;
}

/** Directories 0700 and files 0600 under dir (best effort: a file may vanish while we walk). */
function restrictModes(dir: string): void {
  chmodSync(dir, 0o700);
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    try {
      chmodSync(join(e.parentPath, e.name), e.isDirectory() ? 0o700 : 0o600);
    } catch {
      // removed by Postgres meanwhile
    }
  }
}
