/**
 * Applying a batch of edge change records at the hub, set-based: one multi-row statement per table (inbox,
 * records, losers, appended) instead of one per record, in one transaction, on PGlite and PostgreSQL alike.
 * The invariants are those of apply.ts; the conflict resolution itself is in apply-records.ts.
 */
import { type ApplyResult, compareBytes, type IncomingChange, type Policy } from "./apply-order.js";
import { applyRecords } from "./apply-records.js";
import type { HubDb, HubQuery } from "./db.js";

const HLC = /^\d{15}\.\d{5}\./;
/** Inbox rows read per query while walking a watermark's chain. */
const CHAIN_PAGE = 5000;

/**
 * Applies a batch in one transaction; duplicates are skipped. `policies` overrides the
 * `collection_policies` table (collections in neither are lww). Throws, applying nothing, on a malformed record.
 */
export async function applyChanges(
  db: HubDb,
  batch: IncomingChange[],
  policies?: (collection: string) => Policy,
): Promise<ApplyResult> {
  return db.tx((q) => applyChangesIn(q, batch, policies));
}

/** applyChanges inside a transaction the caller holds. */
export async function applyChangesIn(
  q: HubQuery,
  batch: IncomingChange[],
  policies?: (collection: string) => Policy,
): Promise<ApplyResult> {
  for (const c of batch) checkChange(c);
  if (batch.length === 0) return { applied: 0, duplicates: 0, watermarks: [] };
  const policyOf = policies ?? (await storedPolicies(q));
  const fresh = await insertInbox(q, batch);
  await countReceived(q, fresh);
  await applyRecords(q, fresh, policyOf);
  return {
    applied: fresh.length,
    duplicates: batch.length - fresh.length,
    watermarks: await advance(q, batch, fresh),
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

/**
 * Records the messages in one statement, in message id order (the lock order); returns those whose id was
 * not seen before (the first of several copies in the batch), in that order.
 */
async function insertInbox(q: HubQuery, batch: IncomingChange[]): Promise<IncomingChange[]> {
  const byMsg = [...batch].sort((a, b) => compareBytes(a.msgId, b.msgId));
  const unique = byMsg.filter((c, i) => i === 0 || c.msgId !== byMsg[i - 1]!.msgId);
  const rows = await q.query<{ msg_id: string }>(
    `INSERT INTO inbox (msg_id, site, service, seq, collection, prev_seq, hlc)
     SELECT m, s, v, q, c, p, h FROM ROWS FROM (json_to_recordset($1::json)
       AS (m text, s text, v text, q bigint, c text, p bigint, h text)) WITH ORDINALITY AS u(m, s, v, q, c, p, h, n)
     ORDER BY n
     ON CONFLICT (msg_id) DO NOTHING RETURNING msg_id`,
    [
      JSON.stringify(
        unique.map((c) => ({
          m: c.msgId,
          s: c.record.site,
          v: c.record.service,
          q: c.seq,
          c: c.record.collection,
          p: c.prevSeq ?? 0,
          h: c.record.hlc,
        })),
      ),
    ],
  );
  const inserted = new Set(rows.map((r) => r.msg_id));
  return unique.filter((c) => inserted.has(c.msgId));
}

/** Adds the new changes to their sites' `received` counters (the fleet registry shows them). */
async function countReceived(q: HubQuery, fresh: IncomingChange[]): Promise<void> {
  const perSite = new Map<string, number>();
  for (const c of fresh) perSite.set(c.record.site, (perSite.get(c.record.site) ?? 0) + 1);
  for (const [site, n] of perSite)
    await q.query("UPDATE sites SET received = received + $2 WHERE id = $1", [site, n]);
}

/**
 * Moves each (site, service) watermark along the chain of applied records: a record (seq S, prev P) with
 * P <= W moves W to S. A record whose predecessor never arrived (lost by the edge's nats-server) holds the
 * watermark back until the edge sends it again, so the edge never prunes a record the hub does not have.
 * The chain is walked in seq order: first over the batch's fresh rows (in memory: they are inbox rows exactly
 * as inserted), then over inbox rows beyond where that got, read a page at a time. Other inbox rows below
 * that point cannot take the walk further than it got: the watermark only grows, and it cannot pass the
 * highest seq walked so far. A row that cannot extend the watermark when reached never can later.
 */
async function advance(
  q: HubQuery,
  batch: IncomingChange[],
  fresh: IncomingChange[],
): Promise<ApplyResult["watermarks"]> {
  const keys = new Map<string, { site: string; service: string; fresh: IncomingChange[] }>();
  for (const c of batch) {
    const id = JSON.stringify([c.record.site, c.record.service]);
    if (!keys.has(id)) keys.set(id, { site: c.record.site, service: c.record.service, fresh: [] });
  }
  for (const c of fresh) keys.get(JSON.stringify([c.record.site, c.record.service]))!.fresh.push(c);
  const out: ApplyResult["watermarks"] = [];
  for (const id of [...keys.keys()].sort(compareBytes)) {
    const { site, service, fresh: mine } = keys.get(id)!;
    const [current] = await q.query<{ seq: string | number; hlc: string }>(
      "SELECT seq, hlc FROM watermarks WHERE site = $1 AND service = $2 FOR UPDATE",
      [site, service],
    );
    let w = Number(current?.seq ?? 0);
    let hlc = current?.hlc ?? "";
    for (const c of mine.sort((a, b) => a.seq - b.seq)) {
      if (c.seq > w && (c.prevSeq ?? 0) <= w) {
        w = c.seq;
        hlc = c.record.hlc;
      }
    }
    for (let after = w; ; ) {
      const rows = await q.query<{ seq: string | number; prev_seq: string | number; hlc: string }>(
        `SELECT seq, prev_seq, hlc FROM inbox WHERE site = $1 AND service = $2 AND seq > $3
         ORDER BY seq LIMIT ${CHAIN_PAGE}`,
        [site, service, after],
      );
      for (const r of rows) {
        const seq = Number(r.seq);
        if (seq > w && Number(r.prev_seq) <= w) {
          w = seq;
          hlc = r.hlc;
        }
        after = seq;
      }
      if (rows.length < CHAIN_PAGE) break;
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
