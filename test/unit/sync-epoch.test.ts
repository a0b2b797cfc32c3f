/**
 * The new sync epoch of a database restored from a backup (startSyncEpoch): rows the hub's watermark covers
 * leave, the rest are sent again, and the next seq starts past the hub's watermark and the backup's highest,
 * so the hub's acks are taken (not "never issued") and no new change reuses an acknowledged seq.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { migrate, openDatabase } from "../../appliance/kit/index.js";
import { outboxMigrations } from "../../appliance/kit/outbox.js";
import { createSyncApi } from "../../appliance/sync/recorder.js";
import {
  maxOutboxSeq,
  readSyncState,
  startSyncEpoch,
  syncStateMigrations,
} from "../../appliance/sync/state.js";
import { handleAck } from "../../appliance/sync/watermark.js";
import { removeDir, tempDir } from "../helpers/appliance.js";

const dir = tempDir();
afterAll(() => removeDir(dir));

/** A database with `n` sync rows, all published; the hub acknowledged `acked` of them. */
function restored(name: string, n: number, acked: number) {
  const db = openDatabase(join(dir, `${name}.db`));
  migrate(db, [...outboxMigrations, ...syncStateMigrations]);
  const sync = createSyncApi(db, { site: "site-r", service: "notes" });
  db.transaction(() => {
    for (let i = 1; i <= n; i++) sync.record({ collection: "notes", key: `k${i}`, op: "upsert", data: {} });
  })();
  db.prepare("UPDATE _outbox SET published_at = '2026-01-01T00:00:00Z'").run();
  db.prepare("UPDATE _sync_state SET acked_seq = ?").run(acked);
  db.prepare("DELETE FROM _outbox WHERE seq <= ?").run(acked);
  const rows = () =>
    db.prepare("SELECT seq, published_at AS publishedAt FROM _outbox ORDER BY seq").all() as {
      seq: number;
      publishedAt: string | null;
    }[];
  const write = () =>
    db.transaction(() => sync.record({ collection: "notes", key: "new", op: "upsert", data: {} }))();
  return { db, rows, write };
}
const ack = (seq: number) => JSON.stringify({ service: "notes", seq, at: new Date().toISOString() });

describe("startSyncEpoch", () => {
  it("a backup older than the hub's watermark: its rows go, new changes start past the watermark", () => {
    const { db, rows, write } = restored("older", 6, 4); // rows 5, 6 unacknowledged in the backup
    // Before the epoch, the hub's ack of 20 names a seq this database never issued: ignored.
    expect(handleAck(db, "notes", ack(20))).toMatchObject({ ok: false });
    expect(startSyncEpoch(db, 20, 1000)).toEqual({ highest: 6, acked: 6, next: 1021 });
    expect(rows()).toEqual([]);
    write();
    expect(rows()).toEqual([{ seq: 1021, publishedAt: null }]);
    // The hub's watermark, then its ack of the new change, are taken and prune.
    expect(handleAck(db, "notes", ack(20))).toMatchObject({ ok: true, ackedSeq: 20 });
    db.prepare("UPDATE _outbox SET published_at = '2026-01-01T00:00:01Z'").run();
    expect(handleAck(db, "notes", ack(1021))).toMatchObject({ ok: true, ackedSeq: 1021, pruned: 1 });
  });

  it("a backup newer than the hub's watermark: its unacknowledged rows stay, with their seqs, to be sent again", () => {
    const { db, rows, write } = restored("newer", 8, 3);
    expect(startSyncEpoch(db, 5, 1000)).toEqual({ highest: 8, acked: 5, next: 1009 });
    expect(rows()).toEqual([
      { seq: 6, publishedAt: null },
      { seq: 7, publishedAt: null },
      { seq: 8, publishedAt: null },
    ]);
    expect(readSyncState(db).ackedSeq).toBe(5);
    write();
    expect(maxOutboxSeq(db)).toBe(1009);
  });

  it("the hub not reachable: nothing is taken for acknowledged, the seq jumps by the gap", () => {
    const { db, rows } = restored("offline", 4, 2);
    expect(startSyncEpoch(db, null, 2 ** 40)).toEqual({ highest: 4, acked: 2, next: 4 + 2 ** 40 + 1 });
    expect(rows().map((r) => r.seq)).toEqual([3, 4]);
    expect(rows().every((r) => r.publishedAt === null)).toBe(true);
  });
});
