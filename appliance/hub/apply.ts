/**
 * Applying edges' change records to the hub's store, and reading the result back.
 *
 * Invariants:
 * - A batch is one transaction: its inbox rows, record changes, losers and watermarks commit together.
 * - A message id already in `inbox` is a duplicate and changes nothing (replay is idempotent).
 * - Conflicts resolve by a total order on versions, so the result never depends on arrival order:
 *   lww compares HLC strings byte-wise, then site ids; hub-wins first ranks any version by site 'hub'
 *   above every edge's version, then lww. Every version that is overwritten or refused goes to
 *   `record_losers`. Deletes are tombstones (deleted = true) compared like any other version.
 * - append-only collections keep every change in `appended`; `records` holds the latest by the lww order.
 * - Watermarks (per site and service) only move forward.
 * - Rows are locked in a fixed order (inbox by message id, records by collection and key, watermarks by
 *   site and service) so concurrent batches on Postgres wait for each other instead of deadlocking.
 */
import { POLICIES, type Policy } from "./apply-order.js";
import type { HubQuery } from "./db.js";

export {
  type ApplyResult,
  beats,
  compareBytes,
  HUB_SITE,
  type IncomingChange,
  POLICIES,
  type Policy,
} from "./apply-order.js";
export { applyChanges, applyChangesIn } from "./apply-write.js";

// ---------------------------------------------------------------------------------------------- reading

/** One version of a record, as stored. */
export interface StoredVersion {
  collection: string;
  key: string;
  hlc: string;
  site: string;
  op: "upsert" | "delete";
  data: unknown;
}

export interface StoredRecord extends StoredVersion {
  deleted: boolean;
  updatedAt: Date;
}

export interface AppendedChange extends StoredVersion {
  id: number;
  at: Date;
}

export interface LosingVersion extends AppendedChange {
  lostToHlc: string;
  lostToSite: string;
}

export interface Watermark {
  site: string;
  service: string;
  seq: number;
  hlc: string;
  at: Date;
}

/** The current version of every record in a collection, tombstones included, by key (byte order). */
export function recordsOf(db: HubQuery, collection: string): Promise<StoredRecord[]> {
  return db.query<StoredRecord>(
    `SELECT collection, key, hlc, site, op, data, deleted, updated_at AS "updatedAt"
     FROM records WHERE collection = $1 ORDER BY key COLLATE "C"`,
    [collection],
  );
}

/** Every version that lost in a collection (or for one key), oldest first. */
export function losersOf(db: HubQuery, collection: string, key?: string): Promise<LosingVersion[]> {
  return versionsIn<LosingVersion>(
    db,
    "record_losers",
    `, lost_to_hlc AS "lostToHlc", lost_to_site AS "lostToSite"`,
    collection,
    key,
  );
}

/** Every change to an append-only collection (or one key of it), in arrival order. */
export function appendedOf(db: HubQuery, collection: string, key?: string): Promise<AppendedChange[]> {
  return versionsIn<AppendedChange>(db, "appended", "", collection, key);
}

async function versionsIn<T extends { id: number }>(
  db: HubQuery,
  table: "record_losers" | "appended",
  more: string,
  collection: string,
  key: string | undefined,
): Promise<T[]> {
  const rows = await db.query<T>(
    `SELECT id, collection, key, hlc, site, op, data, at${more}
     FROM ${table} WHERE collection = $1 AND ($2::text IS NULL OR key = $2) ORDER BY id`,
    [collection, key ?? null],
  );
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/** How far the hub has applied one site's service outbox; null before its first message. */
export async function watermarkOf(db: HubQuery, site: string, service: string): Promise<Watermark | null> {
  const [row] = await db.query<Watermark>(
    "SELECT site, service, seq, hlc, at FROM watermarks WHERE site = $1 AND service = $2",
    [site, service],
  );
  return row ? { ...row, seq: Number(row.seq) } : null;
}

/** Every watermark, by site and service (byte order). */
export async function watermarksOf(db: HubQuery): Promise<Watermark[]> {
  const rows = await db.query<Watermark>(
    `SELECT site, service, seq, hlc, at FROM watermarks ORDER BY site COLLATE "C", service COLLATE "C"`,
  );
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

/** Sets (or, with null, clears back to lww) the conflict policy of a collection. */
export async function setCollectionPolicy(
  db: HubQuery,
  collection: string,
  policy: Policy | null,
): Promise<void> {
  if (policy === null) {
    await db.query("DELETE FROM collection_policies WHERE collection = $1", [collection]);
    return;
  }
  if (!POLICIES.includes(policy)) throw new TypeError(`unknown policy ${String(policy)}`);
  await db.query(
    `INSERT INTO collection_policies (collection, policy) VALUES ($1, $2)
     ON CONFLICT (collection) DO UPDATE SET policy = excluded.policy`,
    [collection, policy],
  );
}
