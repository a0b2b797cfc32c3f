/**
 * The edge end of the hub's acknowledgement: each running service listens (core NATS) on
 * `hub.<site>.ack.<service>` and, on a valid ack, records the watermark and prunes what it covers. A timer
 * prunes published event rows after a day. Bad acks are logged and change nothing: the payload must parse,
 * name this service, and not claim a seq this database never issued.
 */
import type { NatsConnection, Subscription } from "nats";
import type { Db } from "../kit/db.js";
import type { Logger } from "../kit/logger.js";
import { ackSubject, syncAckSchema } from "./change.js";
import { acknowledge, maxOutboxSeq, pruneAcked, pruneEvents, requeueUnacked } from "./state.js";

export interface SyncMaintenanceOptions {
  site: string;
  service: string;
  log: Logger;
  /** How often published event rows are pruned. */
  intervalMs: number;
  /** Published event rows older than this go (NEXUS_EVENTS keeps them a week). */
  eventRetentionMs: number;
  /** A sync row published this long ago and still not acknowledged is published again (see requeueUnacked). */
  resendAfterMs: number;
  /** The most rows re-sent per ack. */
  resendLimit: number;
  /** Wakes the outbox relay. */
  onRequeue?: () => void;
}

const DEFAULTS = {
  intervalMs: 10 * 60_000,
  eventRetentionMs: 24 * 60 * 60_000,
  resendAfterMs: 30 * 60_000,
  resendLimit: 10_000,
};

/** Handles one ack payload. Returns what it did, for logs and tests. */
export function handleAck(
  db: Db,
  service: string,
  raw: string,
  opts: Pick<SyncMaintenanceOptions, "resendAfterMs" | "resendLimit"> = DEFAULTS,
): { ok: true; ackedSeq: number; pruned: number; requeued: number } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  const parsed = syncAckSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: "not a sync ack" };
  const ack = parsed.data;
  if (ack.service !== service) return { ok: false, reason: `ack for ${ack.service}` };
  if (ack.seq > maxOutboxSeq(db)) return { ok: false, reason: `seq ${ack.seq} was never issued` };
  const now = Date.now();
  const { ackedSeq, pruned } = acknowledge(db, ack.seq, new Date(now).toISOString());
  const requeued = requeueUnacked(db, new Date(now - opts.resendAfterMs).toISOString(), opts.resendLimit);
  return { ok: true, ackedSeq, pruned, requeued };
}

/** Starts the ack listener and the pruning timer for one service database; `stop()` ends both. */
export function startSyncMaintenance(
  db: Db,
  nc: NatsConnection | null,
  options: Omit<SyncMaintenanceOptions, keyof typeof DEFAULTS> & Partial<typeof DEFAULTS>,
): { stop(): void } {
  const opts = { ...DEFAULTS, ...options } satisfies SyncMaintenanceOptions;
  const { log } = opts;
  const prune = () => {
    try {
      const events = pruneEvents(db, new Date(Date.now() - opts.eventRetentionMs).toISOString());
      const { pruned } = db.transaction(() => pruneAcked(db))();
      if (events || pruned) log.info({ events, sync: pruned }, "outbox pruned");
    } catch (err) {
      log.warn({ err: (err as Error).message }, "outbox pruning failed");
    }
  };
  prune();
  const timer = setInterval(prune, opts.intervalMs);
  timer.unref();

  let sub: Subscription | null = null;
  if (nc) {
    sub = nc.subscribe(ackSubject(opts.site, opts.service), {
      callback: (err, msg) => {
        if (err) return log.warn({ err: err.message }, "sync ack subscription error");
        try {
          const r = handleAck(db, opts.service, msg.string(), opts);
          if (!r.ok) return log.warn({ subject: msg.subject, reason: r.reason }, "ignoring sync ack");
          if (r.requeued) {
            log.warn({ ackedSeq: r.ackedSeq, requeued: r.requeued }, "hub watermark stuck: re-sending");
            opts.onRequeue?.();
          }
        } catch (err) {
          log.warn({ err: (err as Error).message }, "sync ack failed");
        }
      },
    });
  }
  return {
    stop() {
      clearInterval(timer);
      sub?.unsubscribe();
    },
  };
}
