/**
 * Ingest of one site: the hub's stream `EDGE_<site>` sources the box's `NEXUS_SYNC` stream over the leafnode
 * (JetStream domain = site id), and a durable pull consumer applies it into the hub's database in batches.
 * Messages are acknowledged only after their batch committed, and the inbox table makes replays harmless,
 * so a kill -9 anywhere replays, never loses. After each batch the applied watermark per service goes back to
 * the box on `hub.<site>.ack.<service>`; the box then prunes its outbox below it.
 */
import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamSource,
} from "nats";
import type { Logger } from "../kit/index.js";
import { decodeHlc } from "../sync/index.js";
import type { ApplyResult, IncomingChange } from "./apply.js";
import type { HubDb } from "./db.js";
import { type Parsed, parseSyncMessage } from "./ingest-decode.js";
import { holdChanges, nextHeldDue, releaseHeld } from "./ingest-held.js";
import { applySiteBatch } from "./replicas.js";

export const edgeStream = (site: string) => `EDGE_${site}`;
const CONSUMER = "hub-ingest";
/**
 * Bytes per fetch: ~1,000 format 1 messages (one record each, as the 500 messages per fetch before), or a
 * handful of format 2 batches (~1,000 records each). JetStream takes a byte or a message bound, not both.
 */
const FETCH_BYTES = 512 * 1024;
/** Records per transaction at most; a fetch of batches is applied in several. */
const TX_RECORDS = 5000;

export interface AckMessage {
  service: string;
  seq: number;
  at: string;
}

/**
 * What `EDGE_<site>` sources: the box's `NEXUS_SYNC`, only this site's subjects (records a box wrote under an
 * earlier site id stay in its stream until they age out, and are rewritten for this site by the box:
 * appliance/sync/rehome.ts), through the box's JetStream domain over the leafnode.
 */
export function edgeSources(site: string): StreamSource[] {
  return [
    {
      name: "NEXUS_SYNC",
      filter_subject: `sync.${site}.>`,
      external: { api: `$JS.${site}.API`, deliver: "" },
    },
  ];
}

/**
 * Creates (or keeps) the hub stream that sources a site's sync stream, and its ingest consumer. `replicas`:
 * JetStream replicas of both on a NATS cluster (3 there; 1 on the hub's own nats-server). Every hub replica
 * calls it; creating what exists with the same config is a no-op, so replicas starting at once agree.
 */
export async function ensureEdgeStream(jsm: JetStreamManager, site: string, replicas = 1): Promise<void> {
  const name = edgeStream(site);
  const config = {
    name,
    subjects: [] as string[],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: replicas,
    duplicate_window: 2 * 3600 * 1_000_000_000,
    sources: edgeSources(site),
  };
  let existing: StreamConfig | null = null;
  try {
    existing = (await jsm.streams.info(name)).config;
  } catch {
    await jsm.streams.add(config);
  }
  // A hub killed between the two updates of a source re-add (ingest-linkup.ts) left the stream without it. A
  // stream with subjects of its own is filled by publishing (the fleet simulator, tests): no source to put back
  // (nats-server gives a stream left with neither its own name as subject).
  const ownSubjects = (existing?.subjects ?? []).filter((s) => s !== name);
  if (existing && !existing.sources?.length && ownSubjects.length === 0)
    await jsm.streams.update(name, { ...existing, sources: config.sources });
  try {
    await jsm.consumers.info(name, CONSUMER);
  } catch {
    await jsm.consumers.add(name, {
      durable_name: CONSUMER,
      num_replicas: replicas,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 10_000,
      // What a killed hub had fetched but not acknowledged comes back this soon.
      ack_wait: 15 * 1_000_000_000,
    });
  }
}

export interface IngestOptions {
  /** A record stamped further than this ahead of the hub's clock waits until it is not (default 60 s). */
  maxClockDriftMs?: number;
  now?: () => number;
  onBatch?: (site: string, applied: number, batch: IncomingChange[]) => void;
}

/** Groups parsed messages into runs of at most TX_RECORDS records (a message is never split). */
function chunks(parsed: Parsed[]): Parsed[][] {
  const out: Parsed[][] = [[]];
  let n = 0;
  for (const p of parsed) {
    if (n > 0 && n + p.items.length > TX_RECORDS) {
      out.push([]);
      n = 0;
    }
    out[out.length - 1]!.push(p);
    n += p.items.length;
  }
  return out;
}

/** How often messages waiting their turn tell JetStream they are being worked on (the ack wait is 15 s). */
const WORKING_MS = 5000;

/**
 * Waits for `work` while telling JetStream that `waiting` messages are in progress: with the pipeline a fetched
 * message waits for the transactions before it, and on a slow database that could pass the ack wait and have
 * it delivered again (harmless, the inbox skips it, but work done twice).
 */
async function keptAlive<T>(waiting: Parsed[], work: Promise<T>): Promise<T> {
  if (waiting.length === 0) return work;
  const timer = setInterval(() => {
    for (const p of waiting) p.msg.working();
  }, WORKING_MS);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** Lets the event loop run (a transaction's next statement goes out) between messages being decoded. */
const yieldLoop = () => new Promise<void>((r) => setImmediate(r));

export class SiteIngest {
  private running = false;
  private loop: Promise<void> | null = null;
  lastAppliedAt: number | null = null;
  /** How far ahead of the hub's clock the site's latest records were stamped (0: not ahead). */
  clockAheadMs = 0;
  /** The box sent a format 2 batch: it understands them, so the hub may send it batches too (kept in `sites`). */
  speaksBatch = false;
  /** When the next record held for being from the future is due (ms since the epoch); null: none. */
  private heldDue: number | null = null;
  private readonly maxDriftMs: number;
  private readonly now: () => number;

  constructor(
    private readonly site: string,
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly db: HubDb,
    private readonly log: Logger,
    private readonly opts: IngestOptions = {},
  ) {
    this.maxDriftMs = opts.maxClockDriftMs ?? 60_000;
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /**
   * The pipeline: while one fetch's transactions run, the next fetch is pulled and decoded (depth 2: one
   * applying, one ready). Transactions of a site stay one after the other, in stream order, and a message is
   * acknowledged only after the transaction holding its records committed.
   */
  private async run(): Promise<void> {
    while (this.running) {
      let applying: Promise<void> | null = null;
      try {
        await this.restore();
        const consumer = await this.js.consumers.get(edgeStream(this.site), CONSUMER);
        while (this.running) {
          // PGlite runs on this thread, one statement at a time: nothing to overlap, so no fetch ahead there.
          if (applying && this.db.kind !== "postgres") {
            await applying;
            applying = null;
          }
          const next = await this.fetchParsed(consumer);
          if (applying) await keptAlive(next, applying);
          applying = null;
          await this.releaseDue();
          if (next.length === 0) continue;
          applying = this.applyAll(next);
          // Awaited before the next one starts; a failure is handled there, never unhandled meanwhile.
          applying.catch(() => undefined);
        }
        await applying;
      } catch (err) {
        // What was fetched and not acknowledged (the failed transaction's messages and the fetch after it)
        // comes back after the ack wait, in stream order; the inbox skips what of it did apply.
        await applying?.catch(() => undefined);
        if (!this.running) return;
        this.log.warn({ err: (err as Error).message, site: this.site }, "ingest paused; retrying");
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** What survives a restart: the format the site speaks, and when its held records are due. */
  private async restore(): Promise<void> {
    const [row] = await this.db.query<{ sync_format: number }>(
      "SELECT sync_format FROM sites WHERE id = $1",
      [this.site],
    );
    if (Number(row?.sync_format) >= 2) this.speaksBatch = true;
    this.heldDue = await nextHeldDue(this.db, this.site);
  }

  private async fetchParsed(consumer: Consumer): Promise<Parsed[]> {
    const batch = await consumer.fetch({ max_bytes: FETCH_BYTES, expires: 1000 });
    const parsed: Parsed[] = [];
    for await (const m of batch) {
      parsed.push(parseSyncMessage(this.site, m));
      await yieldLoop();
    }
    return parsed;
  }

  private async applyAll(parsed: Parsed[]): Promise<void> {
    await this.noteFormat(parsed);
    const all = chunks(parsed);
    for (const [i, chunk] of all.entries()) await keptAlive(all.slice(i + 1).flat(), this.apply(chunk));
  }

  /** Remembers (once) that the site speaks format 2, for the hub → box direction after a restart. */
  private async noteFormat(parsed: Parsed[]): Promise<void> {
    if (this.speaksBatch || !parsed.some((p) => p.format === 2)) return;
    await this.db.query("UPDATE sites SET sync_format = 2 WHERE id = $1 AND sync_format < 2", [this.site]);
    this.speaksBatch = true;
  }

  private async apply(parsed: Parsed[]): Promise<void> {
    for (const p of parsed) {
      if (p.dropped > 0) {
        this.log.warn(
          { site: this.site, subject: p.msg.subject, dropped: p.dropped },
          "dropping malformed sync records",
        );
      }
      if (p.items.length === 0) p.msg.term();
    }
    const now = this.now();
    const ready: IncomingChange[] = [];
    const held: { change: IncomingChange; dueAt: number }[] = [];
    let ahead = 0;
    for (const p of parsed) {
      for (const item of p.items) {
        const wall = decodeHlc(item.record.hlc).wall;
        ahead = Math.max(ahead, wall - now);
        // Stamped too far in the future (a box whose clock runs ahead): it would win every conflict. Only it
        // waits (ingest-held.ts), until the hub's clock catches up; the rest of its batch applies now.
        if (wall - now > this.maxDriftMs) held.push({ change: item, dueAt: wall - this.maxDriftMs });
        else ready.push(item);
      }
    }
    this.clockAheadMs = Math.max(0, ahead);
    if (held.length > 0) {
      this.log.warn(
        { site: this.site, aheadMs: ahead, held: held.length },
        "records stamped in the future wait for the hub's clock",
      );
    }
    // Hub replicas share this consumer; the site lock and the inbox keep a batch from applying twice.
    const result = await applySiteBatch(this.db, this.site, ready, (q) => holdChanges(q, this.site, held));
    for (const p of parsed) if (p.items.length > 0) p.msg.ack();
    for (const h of held) this.heldDue = Math.min(this.heldDue ?? h.dueAt, h.dueAt);
    this.applied(now, result, ready);
  }

  /** Applies the held records whose time has come. */
  private async releaseDue(): Promise<void> {
    const now = this.now();
    if (this.heldDue === null || this.heldDue > now) return;
    const { result, changes } = await releaseHeld(this.db, this.site, now);
    this.heldDue = await nextHeldDue(this.db, this.site);
    if (changes.length > 0) this.applied(now, result, changes);
  }

  private applied(now: number, result: ApplyResult, batch: IncomingChange[]): void {
    this.lastAppliedAt = now;
    for (const w of result.watermarks) publishAck(this.nc, w.site, w.service, w.seq);
    this.opts.onBatch?.(this.site, result.applied, batch);
  }
}

/** Tells a box how far the hub has applied one service's changes. */
export function publishAck(nc: NatsConnection, site: string, service: string, seq: number): void {
  const ack: AckMessage = { service, seq, at: new Date().toISOString() };
  nc.publish(`hub.${site}.ack.${service}`, JSON.stringify(ack));
}
