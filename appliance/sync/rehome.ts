/**
 * Enrolment gives a box the site id its hub assigned, and the site id is part of every change record (its
 * subject, its `site`, its HLC node). Records written before that — a field box used offline, enrolled
 * later — still carry the old id: the hub would never see them, and the next record's `Nexus-Prev-Seq`
 * would point at them, holding the hub's watermark back for good. So on start, before the relay runs, every
 * sync row that names another site is dealt with:
 *
 * - acknowledged already (seq at or below the watermark, from an earlier enrolment): deleted;
 * - not readable as a change record: deleted and counted (it could never be applied, and left in place it
 *   would block the chain and the relay, whose subject no stream captures any more);
 * - otherwise rewritten for this site: subject, site, HLC node and a fresh id (the local stream's duplicate
 *   window still holds the old one, and the hub sources only `sync.<its site id>.>`, so it never saw it).
 *
 * Wall time and counter are kept, so order and conflict resolution are unchanged; rows keep their seq, so the
 * ack chain stays intact. Batches of 1,000 rows, each one transaction; idempotent, so a crash midway is
 * finished by the next start.
 *
 * One case sends a record twice: a box re-enrolled under another site id while the old hub had received
 * records it had not acknowledged yet. Those go again under the new site (a duplicate only matters for
 * append-only collections); losing them would be worse.
 */
import { randomUUID } from "node:crypto";
import type { Db } from "../kit/db.js";
import { changeRecordSchema, syncSubject } from "./change.js";
import { decodeHlc, encodeHlc } from "./hlc.js";
import { readSyncState } from "./state.js";

const BATCH = 1_000;

export interface RehomeResult {
  /** Rewritten for this site. */
  rehomed: number;
  /** Deleted: acknowledged under an earlier site. */
  acked: number;
  /** Deleted: not a change record. */
  unreadable: number;
}

/** Rewrites or removes the sync rows that name another site than `site` (see above). */
export function rehomeSyncRecords(db: Db, site: string): RehomeResult {
  const result: RehomeResult = { rehomed: 0, acked: 0, unreadable: 0 };
  const prefix = `sync.${site}.`;
  const next = db.prepare(
    `SELECT seq, payload FROM _outbox
    WHERE seq > ? AND subject LIKE 'sync.%' AND substr(subject, 1, ?) != ? ORDER BY seq LIMIT ?`,
  );
  const update = db.prepare(
    "UPDATE _outbox SET id = ?, subject = ?, payload = ?, published_at = NULL WHERE seq = ?",
  );
  const remove = db.prepare("DELETE FROM _outbox WHERE seq = ?");
  const batch = db.transaction((rows: { seq: number; payload: string }[]) => {
    const { ackedSeq } = readSyncState(db);
    for (const row of rows) {
      if (row.seq <= ackedSeq) {
        remove.run(row.seq);
        result.acked++;
        continue;
      }
      const old = parseRecord(row.payload);
      if (!old) {
        remove.run(row.seq);
        result.unreadable++;
        continue;
      }
      const record = changeRecordSchema.parse({
        ...old,
        id: randomUUID(),
        site,
        hlc: encodeHlc({ ...decodeHlc(old.hlc), node: site }),
      });
      const subject = syncSubject(site, record.service, record.collection);
      update.run(record.id, subject, JSON.stringify(record), row.seq);
      result.rehomed++;
    }
  });
  let after = 0;
  for (;;) {
    const rows = next.all(after, prefix.length, prefix, BATCH) as { seq: number; payload: string }[];
    if (rows.length === 0) return result;
    batch(rows);
    after = rows.at(-1)!.seq;
  }
}

function parseRecord(payload: string) {
  try {
    return changeRecordSchema.safeParse(JSON.parse(payload)).data ?? null;
  } catch {
    return null;
  }
}
