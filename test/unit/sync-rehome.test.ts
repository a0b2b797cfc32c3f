/**
 * Change records written before enrolment are rewritten for the site the hub assigned: new subject, site,
 * HLC node and id, same seq, order and data; events and records already named for the site are untouched.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { addToOutbox, migrate, openDatabase } from "../../appliance/kit/index.js";
import { outboxMigrations } from "../../appliance/kit/outbox.js";
import { changeRecordSchema, decodeHlc } from "../../appliance/sync/index.js";
import { createSyncApi } from "../../appliance/sync/recorder.js";
import { rehomeSyncRecords } from "../../appliance/sync/rehome.js";
import { syncStateMigrations } from "../../appliance/sync/state.js";
import { removeDir, tempDir } from "../helpers/appliance.js";

const dir = tempDir();
afterAll(() => removeDir(dir));

interface Row {
  seq: number;
  id: string;
  subject: string;
  payload: string;
  published_at: string | null;
}

function box(name: string) {
  const db = openDatabase(join(dir, `${name}.db`));
  migrate(db, [...outboxMigrations, ...syncStateMigrations]);
  const rows = () => db.prepare("SELECT * FROM _outbox ORDER BY seq").all() as Row[];
  return { db, rows };
}

describe("rehomeSyncRecords", () => {
  it("rewrites records of the old site for the new one, keeping seq, order and data", () => {
    const { db, rows } = box("a");
    const offline = createSyncApi(db, { site: "box-7f3a", service: "notes" });
    db.transaction(() => {
      offline.record({ collection: "notes", key: "k1", op: "upsert", data: { text: "one" } });
      addToOutbox(db, { service: "notes", site: "box-7f3a", type: "nexus.notes.noted", data: {} });
      offline.record({ collection: "notes", key: "k2", op: "upsert", data: { text: "two" } });
      offline.record({ collection: "notes", key: "k1", op: "delete" });
    })();
    // Already published to the local stream under the old name (the relay ran before enrolment).
    db.prepare("UPDATE _outbox SET published_at = '2026-01-01T00:00:00.000Z'").run();
    const before = rows();

    expect(rehomeSyncRecords(db, "site-a")).toEqual({ rehomed: 3, acked: 0, unreadable: 0 });
    const after = rows();
    expect(after.map((r) => r.seq)).toEqual(before.map((r) => r.seq));
    const event = after[1]!;
    expect(event).toEqual(before[1]);
    const records = [after[0]!, after[2]!, after[3]!];
    const old = [before[0]!, before[2]!, before[3]!];
    for (const [i, row] of records.entries()) {
      const was = changeRecordSchema.parse(JSON.parse(old[i]!.payload));
      const now = changeRecordSchema.parse(JSON.parse(row.payload));
      expect(row.subject).toBe("sync.site-a.notes.notes");
      expect(row.published_at).toBeNull();
      expect(row.id).toBe(now.id);
      expect(now.id).not.toBe(was.id);
      expect(now.site).toBe("site-a");
      expect({ ...decodeHlc(now.hlc), node: "x" }).toEqual({ ...decodeHlc(was.hlc), node: "x" });
      expect(decodeHlc(now.hlc).node).toBe("site-a");
      expect({ ...now, id: "", site: "", hlc: "" }).toEqual({ ...was, id: "", site: "", hlc: "" });
    }
    // Order survives: the hlc strings still sort as the seqs do.
    const hlcs = records.map((r) => changeRecordSchema.parse(JSON.parse(r.payload)).hlc);
    expect([...hlcs].sort()).toEqual(hlcs);

    // Idempotent, and the clock of the enrolled site carries on after the rehomed records.
    expect(rehomeSyncRecords(db, "site-a")).toEqual({ rehomed: 0, acked: 0, unreadable: 0 });
    expect(rows()).toEqual(after);
    const enrolled = createSyncApi(db, { site: "site-a", service: "notes" });
    const next = db.transaction(() => enrolled.record({ collection: "notes", key: "k3", op: "upsert" }))();
    expect(next.hlc > hlcs.at(-1)!).toBe(true);
    db.close();
  });

  it("leaves a box that never changed its site as it is", () => {
    const { db, rows } = box("b");
    const api = createSyncApi(db, { site: "site-b", service: "notes" });
    db.transaction(() => api.record({ collection: "notes", key: "k", op: "upsert", data: 1 }))();
    const before = rows();
    expect(rehomeSyncRecords(db, "site-b")).toEqual({ rehomed: 0, acked: 0, unreadable: 0 });
    expect(rows()).toEqual(before);
    db.close();
  });

  it("removes rows an earlier hub acknowledged, and rows that are not change records", () => {
    const { db, rows } = box("c");
    const first = createSyncApi(db, { site: "site-a", service: "notes" });
    for (let i = 0; i < 4; i++)
      db.transaction(() => first.record({ collection: "notes", key: `k${i}`, op: "upsert", data: i }))();
    // The old hub acknowledged seq 2; seq 2 is still here, unpublished (an ack that overtook the relay).
    db.prepare("UPDATE _outbox SET published_at = 'x' WHERE seq = 1").run();
    db.prepare("UPDATE _sync_state SET acked_seq = 2").run();
    db.prepare("DELETE FROM _outbox WHERE seq = 1").run();
    db.prepare(
      "INSERT INTO _outbox (id, subject, payload, created_at) VALUES ('x', 'sync.site-a.notes.notes', 'not json', '')",
    ).run();
    expect(rehomeSyncRecords(db, "site-b")).toEqual({ rehomed: 2, acked: 1, unreadable: 1 });
    expect(rows().map((r) => [r.seq, r.subject])).toEqual([
      [3, "sync.site-b.notes.notes"],
      [4, "sync.site-b.notes.notes"],
    ]);
    db.close();
  });

  it("works through a large backlog in batches", () => {
    const { db, rows } = box("d");
    const offline = createSyncApi(db, { site: "box-1", service: "files" });
    db.transaction(() => {
      for (let i = 0; i < 2_500; i++)
        offline.record({ collection: "versions", key: `n${i}:1`, op: "upsert", data: { i } });
    })();
    expect(rehomeSyncRecords(db, "depot")).toEqual({ rehomed: 2_500, acked: 0, unreadable: 0 });
    expect(new Set(rows().map((r) => r.subject))).toEqual(new Set(["sync.depot.files.versions"]));
    db.close();
  });
});
