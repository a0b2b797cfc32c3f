/**
 * Edge side of hub → box: what the hub delivers into the box's `NEXUS_HUB` stream for one service is applied
 * through a durable consumer, one record per transaction, by the service's `syncApply` handler for its
 * collection. The record's HLC is merged into the box's clock first; one stamped too far in the future is
 * retried later rather than applied. Acknowledged only after the transaction committed: a crash replays,
 * and handlers compare HLCs, so a replay changes nothing.
 */
import { AckPolicy, DeliverPolicy, type JsMsg, type NatsConnection } from "nats";
import type { ServiceContext, ServiceDefinition } from "../kit/define-service.js";
import type { Logger } from "../kit/logger.js";
import { type ChangeRecord, changeRecordSchema, HUB_STREAM } from "./change.js";
import { HlcDriftError } from "./hlc.js";

function parse(msg: JsMsg): ChangeRecord | null {
  try {
    const r = changeRecordSchema.safeParse(JSON.parse(new TextDecoder().decode(msg.data)));
    return r.success ? r.data : null;
  } catch {
    return null;
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
  void (async () => {
    for await (const m of messages) {
      const record = parse(m);
      const handler =
        record && Object.hasOwn(handlers, record.collection) ? handlers[record.collection] : null;
      if (!record || !handler || record.service !== def.name) {
        log.warn({ subject: m.subject }, "dropping a hub record this service cannot apply");
        m.term();
        continue;
      }
      try {
        ctx.tx(() => {
          ctx.sync.receive(record.hlc);
          handler(ctx, record);
        });
        m.ack();
      } catch (err) {
        const future = err instanceof HlcDriftError;
        log.warn(
          { err: (err as Error).message, key: record.key },
          future ? "hub record from the future" : "hub record failed",
        );
        m.nak(future ? 30_000 : 2000);
      }
    }
  })().catch((err) => log.error({ err }, "hub apply stopped"));
}
