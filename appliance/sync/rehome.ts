/**
 * Enrolment gives a box the site id its hub assigned, and the site id is part of every change record (its
 * subject, its `site`, its HLC node). Records written before that — a field box used offline, enrolled
 * later — still carry the old id: the hub would never see them, and the next record's `Nexus-Prev-Seq`
 * would point at them, holding the hub's watermark back for good. So on start, before the relay runs, every
 * sync row not yet acknowledged that names another site is rewritten for this one.
 *
 * Invariants: the hub never saw a rehomed record (it sources only `sync.<its site id>.>`), so each gets a
 * fresh id (the local stream's duplicate window still holds the old one); wall time and counter are kept,
 * so order and conflict resolution are unchanged; rows keep their seq, so the ack chain stays intact; it is
 * one transaction and idempotent.
 */
import { randomUUID } from "node:crypto";
import type { Db } from "../kit/db.js";
import { changeRecordSchema, syncSubject } from "./change.js";
import { decodeHlc, encodeHlc } from "./hlc.js";

/** Rewrites pending sync rows of other sites for `site`; returns how many it rewrote. */
export function rehomeSyncRecords(db: Db, site: string): number {
  const rows = db
    .prepare(
      `SELECT seq, payload FROM _outbox
      WHERE subject LIKE 'sync.%' AND substr(subject, 1, ?) != ? ORDER BY seq`,
    )
    .all(site.length + 6, `sync.${site}.`) as { seq: number; payload: string }[];
  if (rows.length === 0) return 0;
  const update = db.prepare(
    "UPDATE _outbox SET id = ?, subject = ?, payload = ?, published_at = NULL WHERE seq = ?",
  );
  return db.transaction(() => {
    let rehomed = 0;
    for (const row of rows) {
      const old = parseRecord(row.payload);
      if (!old) continue; // not a record this code wrote: left as it is, never sent under a wrong name
      const record = changeRecordSchema.parse({
        ...old,
        id: randomUUID(),
        site,
        hlc: encodeHlc({ ...decodeHlc(old.hlc), node: site }),
      });
      update.run(
        record.id,
        syncSubject(site, record.service, record.collection),
        JSON.stringify(record),
        row.seq,
      );
      rehomed++;
    }
    return rehomed;
  })();
}

function parseRecord(payload: string) {
  try {
    return changeRecordSchema.safeParse(JSON.parse(payload)).data ?? null;
  } catch {
    return null;
  }
}
