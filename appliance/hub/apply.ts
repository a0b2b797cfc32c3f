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
import type { ChangeRecord } from "../sync/change.js";
import type { HubDb, HubQuery } from "./db.js";

export type Policy = "lww" | "hub-wins" | "append-only";
export const POLICIES: readonly Policy[] = ["lww", "hub-wins", "append-only"];

/** The site id of versions written on the hub itself; no edge may enrol under it. */
export const HUB_SITE = "hub";

export interface IncomingChange {
  msgId: string;
  seq: number;
  /** The edge's `Nexus-Prev-Seq`: the previous unacknowledged sync seq of the same service (0: none). */
  prevSeq?: number;
  record: ChangeRecord;
}

export interface ApplyResult {
  applied: number;
  duplicates: number;
  watermarks: { site: string; service: string; seq: number }[];
}

/** A version, as far as conflict resolution needs it. */
interface VersionId {
  hlc: string;
  site: string;
}

const HLC = /^\d{15}\.\d{5}\./;

/** Byte-order comparison (UTF-8), as the HLC encoding expects; JS `<` compares UTF-16 units. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** True when version a beats version b under the policy; identical versions beat nothing. */
export function beats(a: VersionId, b: VersionId, policy: Policy): boolean {
  if (policy === "hub-wins" && (a.site === HUB_SITE) !== (b.site === HUB_SITE)) return a.site === HUB_SITE;
  return (compareBytes(a.hlc, b.hlc) || compareBytes(a.site, b.site)) > 0;
}

/**
 * Applies a batch in one transaction; duplicates are skipped. `policies` overrides the
 * `collection_policies` table (collections in neither are lww). Throws, applying nothing, on a malformed record.
 */
export async function applyChanges(
  db: HubDb,
  batch: IncomingChange[],
  policies?: (collection: string) => Policy,
): Promise<ApplyResult> {
  for (const c of batch) checkChange(c);
  return db.tx((q) => applyChangesIn(q, batch, policies));
}

/** applyChanges inside a transaction the caller holds. */
export async function applyChangesIn(
  q: HubQuery,
  batch: IncomingChange[],
  policies?: (collection: string) => Policy,
): Promise<ApplyResult> {
  for (const c of batch) checkChange(c);
  const byMsg = [...batch].sort((a, b) => compareBytes(a.msgId, b.msgId));
  const policyOf = policies ?? (await storedPolicies(q));
  const fresh: IncomingChange[] = [];
  for (const c of byMsg) if (await insertInbox(q, c)) fresh.push(c);
  await countReceived(q, fresh);
  fresh.sort(
    (a, b) =>
      compareBytes(a.record.collection, b.record.collection) || compareBytes(a.record.key, b.record.key),
  );
  for (const c of fresh) await applyOne(q, c.record, policyOf(c.record.collection));
  return {
    applied: fresh.length,
    duplicates: batch.length - fresh.length,
    watermarks: await advance(q, batch),
  };
}

function checkChange({ msgId, seq, record: r }: IncomingChange): void {
  const bad = (why: string) => new TypeError(`change ${JSON.stringify(msgId)}: ${why}`);
  if (typeof msgId !== "string" || msgId === "") throw bad("no message id");
  if (!Number.isSafeInteger(seq) || seq < 0) throw bad("seq must be a non-negative integer");
  if (r.v !== 1) throw bad(`unknown version ${String(r.v)}`);
  if (r.op !== "upsert" && r.op !== "delete") throw bad(`unknown op ${String(r.op)}`);
  if (typeof r.hlc !== "string" || !HLC.test(r.hlc)) throw bad(`malformed hlc ${String(r.hlc)}`);
  for (const f of ["site", "service", "collection", "key"] as const) {
    if (typeof r[f] !== "string" || r[f] === "") throw bad(`empty ${f}`);
  }
}

async function storedPolicies(q: HubQuery): Promise<(collection: string) => Policy> {
  const rows = await q.query<{ collection: string; policy: Policy }>(
    "SELECT collection, policy FROM collection_policies",
  );
  const map = new Map(rows.map((r) => [r.collection, r.policy]));
  return (collection) => map.get(collection) ?? "lww";
}

/** Records the message; false when its id was seen before. */
async function insertInbox(
  q: HubQuery,
  { msgId, seq, prevSeq, record: r }: IncomingChange,
): Promise<boolean> {
  const rows = await q.query(
    `INSERT INTO inbox (msg_id, site, service, seq, collection, prev_seq, hlc) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (msg_id) DO NOTHING RETURNING msg_id`,
    [msgId, r.site, r.service, seq, r.collection, prevSeq ?? 0, r.hlc],
  );
  return rows.length > 0;
}

/** Adds the new changes to their sites' `received` counters (the fleet registry shows them). */
async function countReceived(q: HubQuery, fresh: IncomingChange[]): Promise<void> {
  const perSite = new Map<string, number>();
  for (const c of fresh) perSite.set(c.record.site, (perSite.get(c.record.site) ?? 0) + 1);
  for (const [site, n] of perSite)
    await q.query("UPDATE sites SET received = received + $2 WHERE id = $1", [site, n]);
}

const jsonParam = (data: unknown): string | null =>
  data === null || data === undefined ? null : JSON.stringify(data);

async function applyOne(q: HubQuery, r: ChangeRecord, policy: Policy): Promise<void> {
  const data = jsonParam(r.data);
  if (policy === "append-only") {
    await q.query(
      "INSERT INTO appended (collection, key, hlc, site, op, data) VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
      [r.collection, r.key, r.hlc, r.site, r.op, data],
    );
  }
  const current = await lockCurrent(q, r, data);
  if (!current) return; // it was new: inserted as the current version
  if (current.hlc === r.hlc && current.site === r.site) return; // the same version, sent again
  const keepLosers = policy !== "append-only"; // there, every version is in `appended` already
  if (!beats(r, current, policy === "append-only" ? "lww" : policy)) {
    if (keepLosers) {
      await q.query(
        `INSERT INTO record_losers (collection, key, hlc, site, op, data, lost_to_hlc, lost_to_site)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`,
        [r.collection, r.key, r.hlc, r.site, r.op, data, current.hlc, current.site],
      );
    }
    return;
  }
  if (keepLosers) {
    await q.query(
      `INSERT INTO record_losers (collection, key, hlc, site, op, data, lost_to_hlc, lost_to_site)
       SELECT collection, key, hlc, site, op, data, $3, $4 FROM records WHERE collection = $1 AND key = $2`,
      [r.collection, r.key, r.hlc, r.site],
    );
  }
  await q.query(
    `UPDATE records SET hlc = $3, site = $4, op = $5, data = $6::jsonb, deleted = $7, updated_at = now()
     WHERE collection = $1 AND key = $2`,
    [r.collection, r.key, r.hlc, r.site, r.op, data, r.op === "delete"],
  );
}

/**
 * Locks and returns the current version of the record, or inserts r as the first one and returns null.
 * An insert racing ours (another transaction) makes us wait for it, then lock what it wrote.
 */
async function lockCurrent(q: HubQuery, r: ChangeRecord, data: string | null): Promise<VersionId | null> {
  for (;;) {
    const [cur] = await q.query<VersionId>(
      "SELECT hlc, site FROM records WHERE collection = $1 AND key = $2 FOR UPDATE",
      [r.collection, r.key],
    );
    if (cur) return cur;
    const inserted = await q.query(
      `INSERT INTO records (collection, key, hlc, site, op, data, deleted) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
       ON CONFLICT (collection, key) DO NOTHING RETURNING key`,
      [r.collection, r.key, r.hlc, r.site, r.op, data, r.op === "delete"],
    );
    if (inserted.length > 0) return null;
  }
}

/**
 * Moves each (site, service) watermark along the chain of applied records: a record (seq S, prev P) with
 * P <= W moves W to S. A record whose predecessor never arrived (lost by the edge's nats-server) holds the
 * watermark back until the edge sends it again, so the edge never prunes a record the hub does not have.
 */
async function advance(q: HubQuery, batch: IncomingChange[]): Promise<ApplyResult["watermarks"]> {
  const keys = new Map<string, { site: string; service: string }>();
  for (const c of batch) {
    keys.set(JSON.stringify([c.record.site, c.record.service]), {
      site: c.record.site,
      service: c.record.service,
    });
  }
  const out: ApplyResult["watermarks"] = [];
  for (const id of [...keys.keys()].sort(compareBytes)) {
    const { site, service } = keys.get(id)!;
    const [current] = await q.query<{ seq: string | number; hlc: string }>(
      "SELECT seq, hlc FROM watermarks WHERE site = $1 AND service = $2 FOR UPDATE",
      [site, service],
    );
    let w = Number(current?.seq ?? 0);
    let hlc = current?.hlc ?? "";
    for (;;) {
      const [next] = await q.query<{ seq: string | number; hlc: string }>(
        `SELECT seq, hlc FROM inbox WHERE site = $1 AND service = $2 AND seq > $3 AND prev_seq <= $3
         ORDER BY seq LIMIT 1`,
        [site, service, w],
      );
      if (!next) break;
      w = Number(next.seq);
      hlc = next.hlc;
    }
    if (current && w === Number(current.seq)) {
      out.push({ site, service, seq: w });
      continue;
    }
    await q.query(
      `INSERT INTO watermarks (site, service, seq, hlc, at) VALUES ($1, $2, $3, $4, now())
       ON CONFLICT (site, service) DO UPDATE SET seq = excluded.seq, hlc = excluded.hlc, at = excluded.at`,
      [site, service, w, hlc],
    );
    out.push({ site, service, seq: w });
  }
  return out;
}

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
