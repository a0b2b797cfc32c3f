/**
 * The records part of a batch: each key's current version is locked once (one statement, in (collection, key)
 * byte order), the batch's versions of that key are folded in against it in memory by the policy's order
 * (the same steps, in the same order, as applying them one by one), and the outcome is written with one
 * multi-row statement per table: new records, losers (in the order they lost), overwritten records, and the
 * `appended` log. A key another transaction inserted meanwhile (PostgreSQL, a racing batch) is applied one
 * version at a time instead, after waiting for that transaction.
 */
import type { ChangeRecord } from "../sync/change.js";
import { beats, compareBytes, type IncomingChange, type Policy, type VersionId } from "./apply-order.js";
import type { HubQuery } from "./db.js";

const jsonParam = (data: unknown): string | null =>
  data === null || data === undefined ? null : JSON.stringify(data);

/**
 * Rows as one JSON parameter, read back with `json_to_recordset` (cheaper on PGlite than one array parameter
 * per column, and the row data goes in as JSON without being stringified twice).
 */
const asRows = (rs: ChangeRecord[]) =>
  JSON.stringify(
    rs.map((r) => ({ c: r.collection, k: r.key, h: r.hlc, s: r.site, o: r.op, d: r.data ?? null })),
  );
const ROWS = `ROWS FROM (json_to_recordset($1::json) AS (c text, k text, h text, s text, o text, d jsonb))
  WITH ORDINALITY AS u(c, k, h, s, o, d, n)`;

/** A version that lost: a record of the batch, or (stored) the version the records table holds. */
interface Loser {
  collection: string;
  key: string;
  record: ChangeRecord | null;
  lostTo: VersionId;
}

interface Plan {
  losers: Loser[];
  inserts: ChangeRecord[];
  updates: ChangeRecord[];
}

const keyOf = (collection: string, key: string) => `${collection}\u0000${key}`;

/** Applies the fresh (not yet seen) changes of a batch to records, losers and appended. */
export async function applyRecords(
  q: HubQuery,
  fresh: IncomingChange[],
  policyOf: (collection: string) => Policy,
): Promise<void> {
  if (fresh.length === 0) return;
  const sorted = fresh
    .map((c) => c.record)
    .sort((a, b) => compareBytes(a.collection, b.collection) || compareBytes(a.key, b.key));
  await insertAppended(
    q,
    sorted.filter((r) => policyOf(r.collection) === "append-only"),
  );
  const groups = new Map<string, ChangeRecord[]>();
  for (const r of sorted) {
    const k = keyOf(r.collection, r.key);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  const current = await lockCurrent(q, sorted);
  const plan: Plan = { losers: [], inserts: [], updates: [] };
  for (const [k, group] of groups) fold(plan, group, current.get(k) ?? null, policyOf);
  const raced = await insertRecords(q, plan.inserts);
  if (raced.size > 0) plan.losers = plan.losers.filter((l) => !raced.has(keyOf(l.collection, l.key)));
  await insertLosers(q, plan.losers);
  await updateRecords(q, plan.updates);
  for (const k of raced) for (const r of groups.get(k)!) await applyOne(q, r, policyOf(r.collection));
}

/** Folds one key's versions (in batch order) into the plan, starting from the stored one. */
function fold(plan: Plan, group: ChangeRecord[], stored: VersionId | null, policyOf: (c: string) => Policy) {
  let win: { v: VersionId; record: ChangeRecord | null } | null = stored ? { v: stored, record: null } : null;
  for (const r of group) {
    const policy = policyOf(r.collection);
    const keepLosers = policy !== "append-only"; // there, every version is in `appended` already
    if (!win) {
      win = { v: r, record: r };
      continue;
    }
    if (win.v.hlc === r.hlc && win.v.site === r.site) continue; // the same version, sent again
    if (!beats(r, win.v, policy === "append-only" ? "lww" : policy)) {
      if (keepLosers) plan.losers.push({ collection: r.collection, key: r.key, record: r, lostTo: win.v });
      continue;
    }
    if (keepLosers) plan.losers.push({ collection: r.collection, key: r.key, record: win.record, lostTo: r });
    win = { v: r, record: r };
  }
  if (!win?.record) return;
  if (stored) plan.updates.push(win.record);
  else plan.inserts.push(win.record);
}

/** Locks the stored versions of the batch's keys, in (collection, key) byte order. */
async function lockCurrent(q: HubQuery, sorted: ChangeRecord[]): Promise<Map<string, VersionId>> {
  const rows = await q.query<VersionId & { collection: string; key: string }>(
    `SELECT collection, key, hlc, site FROM records
     WHERE (collection, key) IN (SELECT u.c, u.k FROM json_to_recordset($1::json) AS u(c text, k text))
     ORDER BY collection COLLATE "C", key COLLATE "C" FOR UPDATE`,
    [JSON.stringify(sorted.map((r) => ({ c: r.collection, k: r.key })))],
  );
  return new Map(rows.map((r) => [keyOf(r.collection, r.key), { hlc: r.hlc, site: r.site }]));
}

async function insertAppended(q: HubQuery, rs: ChangeRecord[]): Promise<void> {
  if (rs.length === 0) return;
  await q.query(
    `INSERT INTO appended (collection, key, hlc, site, op, data) SELECT c, k, h, s, o, d FROM ${ROWS} ORDER BY n`,
    [asRows(rs)],
  );
}

/** Inserts first versions; returns the keys another transaction inserted first. */
async function insertRecords(q: HubQuery, rs: ChangeRecord[]): Promise<Set<string>> {
  if (rs.length === 0) return new Set();
  const rows = await q.query<{ collection: string; key: string }>(
    `INSERT INTO records (collection, key, hlc, site, op, data, deleted)
     SELECT c, k, h, s, o, d, o = 'delete' FROM ${ROWS} ORDER BY n
     ON CONFLICT (collection, key) DO NOTHING RETURNING collection, key`,
    [asRows(rs)],
  );
  const done = new Set(rows.map((r) => keyOf(r.collection, r.key)));
  return new Set(rs.map((r) => keyOf(r.collection, r.key)).filter((k) => !done.has(k)));
}

/** Writes the losers in the order they lost; a stored loser is copied from records before it is overwritten. */
async function insertLosers(q: HubQuery, losers: Loser[]): Promise<void> {
  if (losers.length === 0) return;
  const rows = losers.map(({ collection: c, key: k, record: r, lostTo }) => ({
    c,
    k,
    ...(r ? { h: r.hlc, s: r.site, o: r.op, d: r.data ?? null } : {}),
    lh: lostTo.hlc,
    ls: lostTo.site,
  }));
  await q.query(
    `INSERT INTO record_losers (collection, key, hlc, site, op, data, lost_to_hlc, lost_to_site)
     SELECT u.c, u.k, coalesce(u.h, r.hlc), coalesce(u.s, r.site), coalesce(u.o, r.op),
       CASE WHEN u.h IS NULL THEN r.data ELSE u.d END, u.lh, u.ls
     FROM ROWS FROM (json_to_recordset($1::json)
       AS (c text, k text, h text, s text, o text, d jsonb, lh text, ls text)) WITH ORDINALITY
       AS u(c, k, h, s, o, d, lh, ls, n)
     LEFT JOIN records r ON u.h IS NULL AND r.collection = u.c AND r.key = u.k
     ORDER BY u.n`,
    [JSON.stringify(rows)],
  );
}

async function updateRecords(q: HubQuery, rs: ChangeRecord[]): Promise<void> {
  if (rs.length === 0) return;
  await q.query(
    `UPDATE records r SET hlc = u.h, site = u.s, op = u.o, data = u.d, deleted = u.o = 'delete',
       updated_at = now()
     FROM ${ROWS} WHERE r.collection = u.c AND r.key = u.k`,
    [asRows(rs)],
  );
}

/** One version against the stored one (its `appended` row is written already), as before batches. */
async function applyOne(q: HubQuery, r: ChangeRecord, policy: Policy): Promise<void> {
  const data = jsonParam(r.data);
  const current = await lockOne(q, r, data);
  if (!current) return; // it was new: inserted as the current version
  const plan: Plan = { losers: [], inserts: [], updates: [] };
  fold(plan, [r], current, () => policy);
  await insertLosers(q, plan.losers);
  await updateRecords(q, plan.updates);
}

/** Locks the stored version of r's key, or inserts r as the first one and returns null. */
async function lockOne(q: HubQuery, r: ChangeRecord, data: string | null): Promise<VersionId | null> {
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
