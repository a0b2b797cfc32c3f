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

/** A sync row about to be published, with the seq of the previous sync row still in the outbox (0: none). */
export interface SyncRow extends OutboxRow {
  prevSeq: number;
}

/** One message made of several sync rows. */
export interface PackedMessage {
  subject: string;
  data: Uint8Array;
  msgID: string;
  headers: Record<string, string>;
}

/**
 * Packs consecutive sync rows into fewer messages (the sync plugin supplies one; without, each row is its own
 * message). The relay marks every row of a message published once that message's PubAck came.
 */
export type OutboxPacker = (rows: SyncRow[]) => PackedMessage[];

export interface RelayOptions {
  batchSize: number;
  /** Packs sync rows into batch messages (see OutboxPacker). */
  packer?: OutboxPacker;
  /** After a wake-up, wait this long for more rows to commit (bounds how long a batch collects). */
  lingerMs: number;
  /** Poll interval when idle; `notify()` wakes the relay sooner. */
  idleMs: number;
  /** Maximum backoff after a failed publish. */
  maxBackoffMs: number;
}

const RELAY_DEFAULTS: RelayOptions = { batchSize: 256, idleMs: 1000, maxBackoffMs: 10_000, lingerMs: 0 };

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
    const { packer } = this.opts;
    const packable = (r: OutboxRow) => packer !== undefined && isSyncSubject(r.subject);
    const packed = packer
      ? packer(
          rows.flatMap((r, i) =>
            packable(r) ? [{ ...r, prevSeq: Number(hdrs[i]!.get(PREV_SEQ_HEADER)) }] : [],
          ),
        )
      : [];
    await Promise.all([
      ...rows.flatMap((r, i) =>
        packable(r) ? [] : [this.js.publish(r.subject, r.payload, { msgID: r.id, headers: hdrs[i] })],
      ),
      ...packed.map((m) => {
        const h = headers();
        for (const [k, v] of Object.entries(m.headers)) h.set(k, v);
        return this.js.publish(m.subject, m.data, { msgID: m.msgID, headers: h });
      }),
    ]);
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
        const woken = await this.sleep(this.opts.idleMs);
        // More commits follow a wake-up in bursts: a short linger lets the packer put them in one message.
        if (woken && this.opts.lingerMs > 0) await new Promise((r) => setTimeout(r, this.opts.lingerMs));
      } catch (err) {
        backoff = Math.min(backoff ? backoff * 2 : 100, this.opts.maxBackoffMs);
        this.log.warn({ err: (err as Error).message, retryInMs: backoff }, "outbox publish failed");
        await this.sleep(backoff);
      }
    }
  }

  /** Sleeps ms or until notify(); true when notified. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => done(false), ms);
      const done = (woken: boolean) => {
        clearTimeout(t);
        this.wake = null;
        resolve(woken);
      };
      this.wake = () => done(true);
    });
  }
}
