/**
 * Edge side of hub → box: what the hub delivers into the box's `NEXUS_HUB` stream for one service is applied
 * through a durable consumer by the service's `syncApply` handler for its collection: a format 1 message
 * (one record) or a format 2 batch (see batch.ts) in one transaction; a batch that fails as a whole is applied
 * a record per transaction, so one bad record does not hold back the others. Each record's HLC is merged into
 * the box's clock first; one stamped too far in the future is retried later rather than applied.
 * Acknowledged only after everything in the message committed: a crash or a retry replays, and handlers
 * compare HLCs, so a replay changes nothing.
 */
import { AckPolicy, DeliverPolicy, type JsMsg, type NatsConnection } from "nats";
import type { ServiceContext, ServiceDefinition } from "../kit/define-service.js";
import type { Logger } from "../kit/logger.js";
import { BATCH_FORMAT, BATCH_TOKEN, decodeBatch, FORMAT_HEADER } from "./batch.js";
import { type ChangeRecord, changeRecordSchema, HUB_STREAM } from "./change.js";
import { HlcDriftError } from "./hlc.js";

/** The valid records of a message (none when the message itself is not one for this service). */
function parse(msg: JsMsg, site: string, service: string): { records: ChangeRecord[]; bad: number } {
  try {
    if (msg.headers?.get(FORMAT_HEADER) === BATCH_FORMAT) {
      const batch = decodeBatch(msg.data);
      if (batch.service !== service || msg.subject !== `hub.${site}.data.${service}.${BATCH_TOKEN}`)
        return { records: [], bad: 1 };
      const parsed = batch.entries.map((e) => changeRecordSchema.safeParse(e.record));
      const records = parsed.flatMap((r) => (r.success ? [r.data] : []));
      return { records, bad: parsed.length - records.length };
    }
    const r = changeRecordSchema.safeParse(JSON.parse(new TextDecoder().decode(msg.data)));
    return r.success ? { records: [r.data], bad: 0 } : { records: [], bad: 1 };
  } catch {
    return { records: [], bad: 1 };
  }
}

/** Starts applying hub records for `def`; resolves once the consumer exists. No-op without handlers. */
export async function runHubApply<C>(
  nc: NatsConnection,
  def: ServiceDefinition<C>,
  ctx: ServiceContext<C>,
  log: Logger,
): Promise<void> {
  const handlers = def.syncApply ?? {};
  if (Object.keys(handlers).length === 0) return;
  const jsm = await nc.jetstreamManager();
  const durable = `${def.name}-hub-apply`;
  await jsm.consumers.add(HUB_STREAM, {
    durable_name: durable,
    filter_subject: `hub.${ctx.site}.data.${def.name}.>`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
  });
  const consumer = await nc.jetstream().consumers.get(HUB_STREAM, durable);
  const messages = await consumer.consume();
  const handlerOf = (r: ChangeRecord) =>
    r.service === def.name && Object.hasOwn(handlers, r.collection) ? handlers[r.collection]! : null;
  const applyIn = (r: ChangeRecord) => {
    ctx.sync.receive(r.hlc);
    handlerOf(r)!(ctx, r);
  };
  void (async () => {
    for await (const m of messages) {
      const parsed = parse(m, ctx.site, def.name);
      const records = parsed.records.filter((r) => handlerOf(r));
      const dropped = parsed.bad + parsed.records.length - records.length;
      if (dropped > 0)
        log.warn({ subject: m.subject, dropped }, "dropping hub records this service cannot apply");
      if (records.length === 0) {
        m.term();
        continue;
      }
      try {
        ctx.tx(() => {
          for (const r of records) applyIn(r);
        });
        m.ack();
        continue;
      } catch (err) {
        if (records.length === 1) {
          retryLater(m, records[0]!, err, log);
          continue;
        }
      }
      // The batch failed as a whole: each record on its own, and the message again later for what failed.
      let failed: { r: ChangeRecord; err: unknown } | null = null;
      for (const r of records) {
        try {
          ctx.tx(() => applyIn(r));
        } catch (err) {
          failed ??= { r, err };
        }
      }
      if (failed) retryLater(m, failed.r, failed.err, log);
      else m.ack();
    }
  })().catch((err) => log.error({ err }, "hub apply stopped"));
}

function retryLater(m: JsMsg, r: ChangeRecord, err: unknown, log: Logger): void {
  const future = err instanceof HlcDriftError;
  log.warn(
    { err: (err as Error).message, key: r.key },
    future ? "hub record from the future" : "hub record failed",
  );
  m.nak(future ? 30_000 : 2000);
}
