/**
 * The transactional outbox. Invariant: an event row is written in the same SQLite transaction as the data
 * change it describes, so an event exists if and only if its change committed. The relay publishes rows to
 * JetStream with `Nats-Msg-Id` = the row's id and marks a row only after its PubAck; a crash between the two
 * re-publishes the row, and JetStream's duplicate window drops the copy — exactly once in the stream.
 */
import { randomUUID } from "node:crypto";
import type { JetStreamClient } from "nats";
import type { Db, Migration } from "./db.js";
import { makeEvent } from "./events.js";
import type { Logger } from "./logger.js";

/** Kit-owned tables, migrated before the service's own. */
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
  if (!db.inTransaction) throw new Error("outbox rows must be written inside the data change's transaction");
  const id = randomUUID();
  const event = makeEvent({ id, ...ev });
  db.prepare("INSERT INTO _outbox (id, subject, payload, created_at) VALUES (?, ?, ?, ?)").run(
    id,
    event.type,
    JSON.stringify(event),
    event.time,
  );
  return id;
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
    await Promise.all(rows.map((r) => this.js.publish(r.subject, r.payload, { msgID: r.id })));
    this.markBatch(
      rows.map((r) => r.seq),
      new Date().toISOString(),
    );
    return rows.length;
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
