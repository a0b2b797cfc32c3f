/**
 * Records stamped too far ahead of the hub's clock (a box whose clock runs fast: they would win every
 * conflict). Only such a record waits: it is kept in `inbox_held` in the same transaction that applies the
 * rest of its batch, the batch is acknowledged, and the record is applied once the hub's clock has caught up
 * (`due_at`, ms since the epoch). It is not in `inbox` while it waits, so the site's watermark stops before
 * it and the box keeps it (and everything after it) in its outbox until it is applied: nothing acknowledged
 * to the box is lost, and a copy that arrives again is held once (by message id) or skipped by the inbox.
 */
import { type ApplyResult, applyChangesIn, type IncomingChange } from "./apply.js";
import type { HubDb, HubQuery } from "./db.js";
import { withSiteTx } from "./replicas.js";

/** Keeps records from the future until `dueAt(record)`; inside the caller's transaction. */
export async function holdChanges(
  q: HubQuery,
  site: string,
  held: { change: IncomingChange; dueAt: number }[],
): Promise<void> {
  if (held.length === 0) return;
  await q.query(
    `INSERT INTO inbox_held (msg_id, site, due_at, change)
     SELECT m, $1, d, c FROM json_to_recordset($2::json) AS u(m text, d bigint, c jsonb)
     ON CONFLICT (msg_id) DO NOTHING`,
    [site, JSON.stringify(held.map((h) => ({ m: h.change.msgId, d: Math.ceil(h.dueAt), c: h.change })))],
  );
}

/** When the site's next held record is due (ms since the epoch), or null when none waits. */
export async function nextHeldDue(db: HubQuery, site: string): Promise<number | null> {
  const [row] = await db.query<{ due: string | number | null }>(
    "SELECT min(due_at) AS due FROM inbox_held WHERE site = $1",
    [site],
  );
  return row?.due === null || row?.due === undefined ? null : Number(row.due);
}

/** Applies the site's held records that are due at `now` and forgets them, in one transaction. */
export function releaseHeld(
  db: HubDb,
  site: string,
  now: number,
): Promise<{ result: ApplyResult; changes: IncomingChange[] }> {
  return withSiteTx(db, site, async (q) => {
    const rows = await q.query<{ change: IncomingChange }>(
      `DELETE FROM inbox_held WHERE msg_id IN (
         SELECT msg_id FROM inbox_held WHERE site = $1 AND due_at <= $2 ORDER BY msg_id FOR UPDATE)
       RETURNING change`,
      [site, now],
    );
    const changes = rows.map((r) => r.change);
    return { result: await applyChangesIn(q, changes), changes };
  });
}
