/** NATS connection and the local events stream; `appliance/sync/streams.ts` adds the sync streams. */
import {
  AckPolicy,
  connect,
  DeliverPolicy,
  type NatsConnection,
  nanos,
  StorageType,
  type StreamConfig,
} from "nats";
import { type CloudEvent, cloudEventSchema } from "./events.js";
import type { Logger } from "./logger.js";

/** The local events stream (kept 7 days); change records for the hub go to SYNC_STREAM instead. */
export const EVENTS_STREAM = "NEXUS_EVENTS";

export interface NatsOptions {
  url: string;
  user?: string;
  pass?: string;
  name: string;
}

/** Connects, retrying forever on reconnect (the supervisor restarts nats-server when it dies). */
export function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  return connect({
    servers: opts.url,
    user: opts.user,
    pass: opts.pass,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
}

/**
 * Creates the events stream if missing. The duplicate window bounds exactly-once publishing across a relay
 * restart: a row re-published within it is dropped by the server.
 */
export async function ensureEventStream(nc: NatsConnection): Promise<void> {
  await ensureStream(nc, {
    name: EVENTS_STREAM,
    subjects: ["nexus.>"],
    storage: StorageType.File,
    duplicate_window: nanos(2 * 60 * 60 * 1000),
    max_age: nanos(7 * 24 * 60 * 60 * 1000),
  });
}

/** Creates a JetStream stream, or updates the one of that name to `config`. */
export async function ensureStream(nc: NatsConnection, config: Partial<StreamConfig> & { name: string }) {
  const jsm = await nc.jetstreamManager();
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config);
  } catch {
    await jsm.streams.add(config);
  }
}

/** A durable subscription: handler errors make the message redelivered, never dropped. */
export interface Subscription {
  /** Durable name part, unique within the service. */
  name: string;
  /** Subject filter, e.g. `nexus.identity.>`. */
  subject: string;
  handler: (event: CloudEvent) => Promise<void> | void;
}

/** Binds a subscription to a durable JetStream consumer and runs it until the connection closes. */
export async function runSubscription(
  nc: NatsConnection,
  service: string,
  sub: Subscription,
  log: Logger,
): Promise<void> {
  const jsm = await nc.jetstreamManager();
  const durable = `${service}-${sub.name}`;
  await jsm.consumers.add(EVENTS_STREAM, {
    durable_name: durable,
    filter_subject: sub.subject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    max_deliver: 20,
  });
  const consumer = await nc.jetstream().consumers.get(EVENTS_STREAM, durable);
  const messages = await consumer.consume();
  void (async () => {
    for await (const m of messages) {
      const parsed = cloudEventSchema.safeParse(safeJson(m.string()));
      if (!parsed.success) {
        log.warn({ subject: m.subject }, "dropping message that is not a CloudEvent");
        m.term();
        continue;
      }
      try {
        await sub.handler(parsed.data);
        m.ack();
      } catch (err) {
        log.error({ err, subscription: durable }, "event handler failed; will be redelivered");
        m.nak(1000);
      }
    }
  })().catch((err) => log.error({ err, subscription: durable }, "subscription stopped"));
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}
