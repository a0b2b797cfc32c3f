/**
 * `ctx.sync`: writes change records through the outbox. Invariant: a record commits or rolls back with its
 * data change and with the clock value it used, so after a restart (or another process writing the same
 * database, like `nexus admin`) the clock continues after every committed timestamp.
 */
import { randomUUID } from "node:crypto";
import type { Db } from "../kit/db.js";
import { insertOutboxRow } from "../kit/outbox.js";
import { type ChangeRecord, changeRecordSchema, syncSubject } from "./change.js";
import { compareHlc, Hlc } from "./hlc.js";
import { readSyncState, saveHlc } from "./state.js";

/** What a service passes to `ctx.sync.record`. */
export interface SyncChange {
  /** The synced collection, `[a-z][a-z0-9_-]{0,62}`: one subject per collection. */
  collection: string;
  /** The row's key within the collection (1 to 512 characters). */
  key: string;
  op: "upsert" | "delete";
  /** The row after an upsert; omitted or null for a delete. Must survive JSON. */
  data?: unknown;
}

export interface SyncApi {
  /** Records a change inside the current `ctx.tx` (throws outside one) and returns the record written. */
  record(change: SyncChange): ChangeRecord;
  /** Merges a remote timestamp into this database's clock (throws HlcDriftError); returns the new local one. */
  receive(remoteHlc: string): string;
}

/** The sync API of one service database. */
export function createSyncApi(
  db: Db,
  opts: {
    site: string;
    service: string;
    now?: () => number;
    maxDriftMs?: number;
    /** Called after a record is written (the relay wakes up once the transaction committed). */
    onRecord?: () => void;
  },
): SyncApi {
  const clockOpts = { now: opts.now, maxDriftMs: opts.maxDriftMs };
  let hlc = new Hlc(opts.site, { ...clockOpts, last: readSyncState(db).hlc ?? undefined });

  /** Runs `tick` on a clock no older than the persisted one, and persists the result in the open transaction. */
  function advance(tick: (clock: Hlc) => string): string {
    const stored = readSyncState(db).hlc;
    if (stored && compareHlc(stored, hlc.last) > 0) hlc = new Hlc(opts.site, { ...clockOpts, last: stored });
    const ts = tick(hlc);
    saveHlc(db, ts);
    return ts;
  }

  return {
    record(change) {
      if (!db.inTransaction)
        throw new Error("sync records must be written inside the data change's transaction");
      const subject = syncSubject(opts.site, opts.service, change.collection);
      const id = randomUUID();
      const record = changeRecordSchema.parse({
        v: 1,
        id,
        site: opts.site,
        service: opts.service,
        collection: change.collection,
        key: change.key,
        op: change.op,
        hlc: advance((clock) => clock.now()),
        data: change.data ?? null,
      });
      insertOutboxRow(db, {
        id,
        subject,
        payload: JSON.stringify(record),
        createdAt: new Date().toISOString(),
      });
      // The relay reads committed rows only; waking it after this tick sees the commit.
      if (opts.onRecord) setImmediate(opts.onRecord);
      return record;
    },
    receive(remoteHlc) {
      const merge = () => advance((clock) => clock.receive(remoteHlc));
      return db.inTransaction ? merge() : db.transaction(merge)();
    },
  };
}
