/**
 * Per-database sync state (`_sync_state`, one row) and the outbox pruning it allows. Invariants: `acked_seq`
 * never decreases; a sync row leaves the outbox only when it is published and the hub acknowledged its seq;
 * an event row (not `sync.*`) leaves it once published and older than a day (NEXUS_EVENTS holds it).
 */
import type { Db, Migration } from "../kit/db.js";

export const syncStateMigrations: Migration[] = [
  {
    id: "0000000001_kit_sync_state",
    up: (db) =>
      db.exec(`CREATE TABLE _sync_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        hlc TEXT,
        acked_seq INTEGER NOT NULL DEFAULT 0,
        acked_at TEXT
      );
      INSERT INTO _sync_state (id) VALUES (1);`),
  },
];

export interface SyncState {
  /** The last HLC timestamp this database issued, null before the first. */
  hlc: string | null;
  ackedSeq: number;
  ackedAt: string | null;
}

/** Reads the state row. */
export function readSyncState(db: Db): SyncState {
  const row = db.prepare("SELECT hlc, acked_seq, acked_at FROM _sync_state WHERE id = 1").get() as
    | { hlc: string | null; acked_seq: number; acked_at: string | null }
    | undefined;
  if (!row) throw new Error("_sync_state is missing its row: run the kit migrations");
  return { hlc: row.hlc, ackedSeq: row.acked_seq, ackedAt: row.acked_at };
}

/** Persists the clock; call inside the transaction that uses the timestamp. */
export function saveHlc(db: Db, hlc: string): void {
  db.prepare("UPDATE _sync_state SET hlc = ? WHERE id = 1").run(hlc);
}

/** The highest outbox seq ever assigned (0 for none): no honest ack can go past it. */
export function maxOutboxSeq(db: Db): number {
  const row = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = '_outbox'").get() as
    | { seq: number }
    | undefined;
  return row?.seq ?? 0;
}

/**
 * Records the hub's watermark (never backwards) and deletes the sync rows it covers. Returns the watermark in
 * force and how many rows went.
 */
export function acknowledge(db: Db, seq: number, at: string): { ackedSeq: number; pruned: number } {
  return db.transaction(() => {
    db.prepare(
      "UPDATE _sync_state SET acked_seq = max(acked_seq, ?), acked_at = ? WHERE id = 1 AND acked_seq <= ?",
    ).run(seq, at, seq);
    return pruneAcked(db);
  })();
}

/** Deletes published sync rows at or below the stored watermark. */
export function pruneAcked(db: Db): { ackedSeq: number; pruned: number } {
  const { ackedSeq } = readSyncState(db);
  const r = db
    .prepare("DELETE FROM _outbox WHERE subject LIKE 'sync.%' AND seq <= ? AND published_at IS NOT NULL")
    .run(ackedSeq);
  return { ackedSeq, pruned: r.changes };
}

/** Deletes published event rows (not sync) published before `before` (ISO time). Returns how many. */
export function pruneEvents(db: Db, before: string): number {
  return db
    .prepare(
      "DELETE FROM _outbox WHERE subject NOT LIKE 'sync.%' AND published_at IS NOT NULL AND published_at < ?",
    )
    .run(before).changes;
}

export interface SyncBacklog {
  /** Sync rows the hub has not acknowledged yet. */
  pending: number;
  /** Of those, rows not yet in the local stream. */
  unpublished: number;
  /** When the oldest of them was written. */
  oldestPendingAt: string | null;
  ackedSeq: number;
  ackedAt: string | null;
}

/** What `nexus sync status` shows for one service database. */
export function syncBacklog(db: Db): SyncBacklog {
  const { ackedSeq, ackedAt } = readSyncState(db);
  const row = db
    .prepare(
      `SELECT count(*) AS pending, count(*) FILTER (WHERE published_at IS NULL) AS unpublished,
        min(created_at) AS oldest
      FROM _outbox WHERE subject LIKE 'sync.%'`,
    )
    .get() as { pending: number; unpublished: number; oldest: string | null };
  return {
    pending: row.pending,
    unpublished: row.unpublished,
    oldestPendingAt: row.oldest,
    ackedSeq,
    ackedAt,
  };
}

/**
 * Marks published but unacknowledged sync rows, published before `before`, for publishing again (the first
 * `limit` by seq). For records the local stream lost (nats-server loses unsynced data on a power cut) the hub
 * would otherwise wait forever; copies it already has are dropped by the duplicate window or its inbox.
 */
export function requeueUnacked(db: Db, before: string, limit: number): number {
  return db
    .prepare(
      `UPDATE _outbox SET published_at = NULL WHERE seq IN (
        SELECT seq FROM _outbox WHERE subject LIKE 'sync.%' AND published_at IS NOT NULL AND published_at < ?
          AND seq > (SELECT acked_seq FROM _sync_state WHERE id = 1)
        ORDER BY seq LIMIT ?)`,
    )
    .run(before, limit).changes;
}

/**
 * A new sync epoch for a database that came back from a backup (appliance/backup/sync-epoch.ts). The life the
 * backup came from may have issued seqs past the backup's, and the hub may have acknowledged some of them:
 * reusing those numbers would make the box ignore the hub's acks ("never issued") and let the hub take a new
 * change for one it already has. So: sync rows at or below the hub's watermark (`hubWatermark`, when known;
 * the hub's chain reached them, it holds them) leave the outbox, and the outbox's next seq starts `gap` past
 * both that watermark and the highest seq in the backup. Rows above stay, with their seqs, and are published
 * again (the box's stream after a restore is not the one they went to).
 * Runs on the restored copy, with no service running. Returns the seq range before and the next seq.
 */
export function startSyncEpoch(
  db: Db,
  hubWatermark: number | null,
  gap: number,
): { highest: number; acked: number; next: number } {
  return db.transaction(() => {
    const highest = maxOutboxSeq(db);
    let acked = readSyncState(db).ackedSeq;
    if (hubWatermark !== null) {
      acked = Math.max(acked, Math.min(hubWatermark, highest));
      db.prepare("UPDATE _sync_state SET acked_seq = ? WHERE id = 1").run(acked);
      db.prepare("DELETE FROM _outbox WHERE subject LIKE 'sync.%' AND seq <= ?").run(acked);
    }
    // The restored box's stream is not the one they were published to: publish what is left again now.
    db.prepare("UPDATE _outbox SET published_at = NULL WHERE subject LIKE 'sync.%'").run();
    const next = Math.max(highest, hubWatermark ?? 0) + gap + 1;
    const set = db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = '_outbox'").run(next - 1);
    if (set.changes === 0)
      db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('_outbox', ?)").run(next - 1);
    return { highest, acked, next };
  })();
}
