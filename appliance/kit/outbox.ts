/**
 * The transactional outbox. Invariant: an event row is written in the same SQLite transaction as the data
 * change it describes, so an event exists if and only if its change committed. The relay publishes rows to
 * JetStream with `Nats-Msg-Id` = the row's id and marks a row only after its PubAck; a crash between the two
 * re-publishes the row, and JetStream's duplicate window drops the copy — exactly once in the stream.
 * Published rows are deleted by `appliance/sync/state.ts`: sync rows once the hub acknowledged them, event rows
 * a day after publishing. The headers below are the relay's publishing contract; `appliance/sync/change.ts`
 * re-exports them as part of the sync wire contract.
 */
import { randomUUID } from "node:crypto";
import { headers, type JetStreamClient, type MsgHdrs } from "nats";
import type { Db, Migration } from "./db.js";
import { makeEvent } from "./events.js";
import type { Logger } from "./logger.js";

/** Header on every outbox publish: the outbox row's seq. */
export const SEQ_HEADER = "Nexus-Seq";
/** Header on sync publishes: the seq of the previous sync row of the same service database (0: none pending). */
export const PREV_SEQ_HEADER = "Nexus-Prev-Seq";

/** True for outbox subjects that carry change records (rows kept until the hub acknowledges them). */
export function isSyncSubject(subject: string): boolean {
  return subject.startsWith("sync.");
}

/** Kit-owned tables, migrated before the plugins' and the service's own. */
export const outboxMigrations: Migration[] = [
  {
    id: "0000000000_kit_outbox",
    up: (db) =>
      db.exec(`CREATE TABLE _outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        subject TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        published_at TEXT
      );
      CREATE INDEX _outbox_unpublished ON _outbox (seq) WHERE published_at IS NULL;`),
  },
];

export interface OutboxRow {
  seq: number;
  id: string;
  subject: string;
  payload: string;
}

/** Adds an event row. Must run inside the transaction that makes the change; throws otherwise. */
export function addToOutbox(
  db: Db,
  ev: { service: string; site: string; type: string; data: unknown; subject?: string },
): string {
  const id = randomUUID();
  const event = makeEvent({ id, ...ev });
  insertOutboxRow(db, { id, subject: event.type, payload: JSON.stringify(event), createdAt: event.time! });
  return id;
}

/** Adds a row as is (events and sync records). Must run inside the data change's transaction; throws otherwise. */
export function insertOutboxRow(
  db: Db,
  row: { id: string; subject: string; payload: string; createdAt: string },
): void {
  if (!db.inTransaction) throw new Error("outbox rows must be written inside the data change's transaction");
  db.prepare("INSERT INTO _outbox (id, subject, payload, created_at) VALUES (?, ?, ?, ?)").run(
    row.id,
    row.subject,
    row.payload,
    row.createdAt,
  );
}

/** Counts rows not yet acknowledged by JetStream (the relay's backlog). */
export function outboxBacklog(db: Db): number {
  return (db.prepare("SELECT count(*) AS n FROM _outbox WHERE published_at IS NULL").get() as { n: number })
    .n;
}

export interface RelayOptions {
  batchSize: number;
  /** Poll interval when idle; `notify()` wakes the relay sooner. */
  idleMs: number;
  /** Maximum backoff after a failed publish. */
  maxBackoffMs: number;
}

const RELAY_DEFAULTS: RelayOptions = { batchSize: 256, idleMs: 1000, maxBackoffMs: 10_000 };

/** Publishes outbox rows to JetStream in order; one loop per database. */
export class OutboxRelay {
  private readonly opts: RelayOptions;
  private running = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly selectBatch;
  private readonly markBatch;
  private readonly previousSync;

  constructor(
    readonly db: Db,
    private readonly js: JetStreamClient,
    private readonly log: Logger,
    opts: Partial<RelayOptions> = {},
  ) {
    this.opts = { ...RELAY_DEFAULTS, ...opts } satisfies RelayOptions;
    this.selectBatch = db.prepare(
      "SELECT seq, id, subject, payload FROM _outbox WHERE published_at IS NULL ORDER BY seq LIMIT ?",
    );
    this.previousSync = db.prepare(
      "SELECT seq FROM _outbox WHERE seq < ? AND subject LIKE 'sync.%' ORDER BY seq DESC LIMIT 1",
    );
    const mark = db.prepare("UPDATE _outbox SET published_at = ? WHERE seq = ?");
    this.markBatch = db.transaction((seqs: number[], at: string) => {
      for (const s of seqs) mark.run(at, s);
    });
  }

  /** Starts the background loop. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Wakes the loop: call after committing a transaction that wrote outbox rows. */
  notify(): void {
    this.wake?.();
  }

  /** Publishes everything pending once; returns how many rows it published. */
  async flush(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.publishBatch();
      total += n;
      if (n < this.opts.batchSize) return total;
    }
  }

  /** Stops the loop after the batch in flight; rows not yet acknowledged stay for the next start. */
  async stop(): Promise<void> {
    this.running = false;
    this.notify();
    await this.loop;
  }

  private async publishBatch(): Promise<number> {
    const rows = this.selectBatch.all(this.opts.batchSize) as OutboxRow[];
    if (rows.length === 0) return 0;
    const hdrs = this.headersFor(rows);
    await Promise.all(
      rows.map((r, i) => this.js.publish(r.subject, r.payload, { msgID: r.id, headers: hdrs[i] })),
    );
    this.markBatch(
      rows.map((r) => r.seq),
      new Date().toISOString(),
    );
    return rows.length;
  }

  /**
   * `Nexus-Seq` on every row; on sync rows also `Nexus-Prev-Seq`, the previous sync row still here (0: none, all
   * earlier ones are acknowledged). The hub advances its watermark only along that chain, so a record lost
   * between here and the hub (reconnect, power cut) holds the watermark back instead of being pruned unseen.
   */
  private headersFor(rows: OutboxRow[]): MsgHdrs[] {
    let prev: number | undefined;
    return rows.map((r) => {
      const h = headers();
      h.set(SEQ_HEADER, String(r.seq));
      if (isSyncSubject(r.subject)) {
        prev ??= (this.previousSync.get(r.seq) as { seq: number } | undefined)?.seq ?? 0;
        h.set(PREV_SEQ_HEADER, String(prev));
        prev = r.seq;
      }
      return h;
    });
  }

  private async run(): Promise<void> {
    let backoff = 0;
    while (this.running) {
      try {
        const n = await this.publishBatch();
        backoff = 0;
        if (n === this.opts.batchSize) continue;
        await this.sleep(this.opts.idleMs);
      } catch (err) {
        backoff = Math.min(backoff ? backoff * 2 : 100, this.opts.maxBackoffMs);
        this.log.warn({ err: (err as Error).message, retryInMs: backoff }, "outbox publish failed");
        await this.sleep(backoff);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }
}
