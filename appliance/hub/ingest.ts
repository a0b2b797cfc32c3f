/**
 * Ingest of one site: the hub's stream `EDGE_<site>` sources the box's `NEXUS_SYNC` stream over the leafnode
 * (JetStream domain = site id), and a durable pull consumer applies it into the hub's database in batches.
 * Messages are acknowledged only after their batch committed, and the inbox table makes replays harmless,
 * so a kill -9 anywhere replays, never loses. After each batch the applied watermark per service goes back to
 * the box on `hub.<site>.ack.<service>`; the box then prunes its outbox below it.
 */
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
  RetentionPolicy,
  StorageType,
} from "nats";
import type { Logger } from "../kit/index.js";
import { changeRecordSchema, decodeHlc, PREV_SEQ_HEADER, SEQ_HEADER, syncSubject } from "../sync/index.js";
import type { IncomingChange } from "./apply.js";
import type { HubDb } from "./db.js";
import { applySiteBatch } from "./replicas.js";

export const edgeStream = (site: string) => `EDGE_${site}`;
const CONSUMER = "hub-ingest";
const BATCH = 500;

export interface AckMessage {
  service: string;
  seq: number;
  at: string;
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
    // Only this site's subjects: records a box wrote under an earlier site id stay in its stream (until they
    // age out) and are rewritten for this site by the box (appliance/sync/rehome.ts).
    sources: [
      {
        name: "NEXUS_SYNC",
        filter_subject: `sync.${site}.>`,
        external: { api: `$JS.${site}.API`, deliver: "" },
      },
    ],
  };
  try {
    await jsm.streams.info(name);
  } catch {
    await jsm.streams.add(config);
  }
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

interface Parsed {
  msg: JsMsg;
  item?: IncomingChange;
}

/** A valid change record from `site`, or nothing: a box can only speak for itself, on its own subjects. */
function parse(site: string, msg: JsMsg): Parsed {
  try {
    const parsed = changeRecordSchema.safeParse(JSON.parse(new TextDecoder().decode(msg.data)));
    if (!parsed.success) return { msg };
    const record = parsed.data;
    const seq = Number(msg.headers?.get(SEQ_HEADER));
    const prevSeq = Number(msg.headers?.get(PREV_SEQ_HEADER) || 0);
    const msgId = msg.headers?.get("Nats-Msg-Id") || record.id;
    const subject = syncSubject(record.site, record.service, record.collection);
    if (
      !Number.isSafeInteger(seq) ||
      !Number.isSafeInteger(prevSeq) ||
      record.site !== site ||
      msg.subject !== subject
    ) {
      return { msg };
    }
    return { msg, item: { msgId, seq, prevSeq, record } };
  } catch {
    return { msg };
  }
}

export interface IngestOptions {
  /** A record stamped further than this ahead of the hub's clock waits until it is not (default 60 s). */
  maxClockDriftMs?: number;
  now?: () => number;
  onBatch?: (site: string, applied: number, batch: IncomingChange[]) => void;
}

export class SiteIngest {
  private running = false;
  private loop: Promise<void> | null = null;
  lastAppliedAt: number | null = null;
  /** How far ahead of the hub's clock the site's latest records were stamped (0: not ahead). */
  clockAheadMs = 0;
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

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const consumer = await this.js.consumers.get(edgeStream(this.site), CONSUMER);
        while (this.running) {
          const batch = await consumer.fetch({ max_messages: BATCH, expires: 1000 });
          const msgs: JsMsg[] = [];
          for await (const m of batch) msgs.push(m);
          if (msgs.length) await this.apply(msgs);
        }
      } catch (err) {
        if (!this.running) return;
        this.log.warn({ err: (err as Error).message, site: this.site }, "ingest paused; retrying");
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private async apply(msgs: JsMsg[]): Promise<void> {
    const parsed = msgs.map((m) => parse(this.site, m));
    for (const p of parsed) {
      if (!p.item) {
        this.log.warn({ site: this.site, subject: p.msg.subject }, "dropping a malformed sync message");
        p.msg.term();
      }
    }
    const now = this.now();
    const ready: Parsed[] = [];
    let ahead = 0;
    for (const p of parsed) {
      if (!p.item) continue;
      const aheadMs = decodeHlc(p.item.record.hlc).wall - now;
      ahead = Math.max(ahead, aheadMs);
      // Stamped too far in the future (a box whose clock runs ahead): it would win every conflict. It waits,
      // unacknowledged, until the hub's clock catches up; the box keeps it and the chain holds the watermark.
      if (aheadMs > this.maxDriftMs) p.msg.nak(Math.min(aheadMs - this.maxDriftMs + 500, 60_000));
      else ready.push(p);
    }
    this.clockAheadMs = Math.max(0, ahead);
    if (ready.length < parsed.filter((p) => p.item).length) {
      this.log.warn(
        { site: this.site, aheadMs: ahead },
        "records stamped in the future wait for the hub's clock",
      );
    }
    // Hub replicas share this consumer; the site lock and the inbox keep a batch from applying twice.
    const result = await applySiteBatch(
      this.db,
      this.site,
      ready.map((p) => p.item!),
    );
    for (const p of ready) p.msg.ack();
    this.lastAppliedAt = now;
    for (const w of result.watermarks) publishAck(this.nc, w.site, w.service, w.seq);
    this.opts.onBatch?.(
      this.site,
      result.applied,
      ready.map((p) => p.item!),
    );
  }
}

/** Tells a box how far the hub has applied one service's changes. */
export function publishAck(nc: NatsConnection, site: string, service: string, seq: number): void {
  const ack: AckMessage = { service, seq, at: new Date().toISOString() };
  nc.publish(`hub.${site}.ack.${service}`, JSON.stringify(ack));
}
