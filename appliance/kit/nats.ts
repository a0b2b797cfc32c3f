/** NATS connection and the local JetStream streams: every service's events, and the site's sync records. */
import {
  AckPolicy,
  connect,
  DeliverPolicy,
  type NatsConnection,
  nanos,
  StorageType,
  type StreamConfig,
} from "nats";
import { HUB_STREAM, SYNC_STREAM } from "../sync/change.js";
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

/**
 * Creates the site's sync stream if missing: change records on `sync.<site>.>`, sourced by the hub over the
 * leafnode. The outbox is the record of truth: it keeps each record until the hub acknowledges it and sends
 * again what stays unacknowledged, so the stream may drop records after SYNC_STREAM_MAX_AGE_MS.
 */
/** How long the sync stream keeps a record (the outbox holds it until the hub has applied it). */
export const SYNC_STREAM_MAX_AGE_MS = 14 * 86_400_000;

export async function ensureSyncStream(nc: NatsConnection, site: string): Promise<void> {
  await ensureStream(nc, {
    name: SYNC_STREAM,
    subjects: [`sync.${site}.>`],
    storage: StorageType.File,
    duplicate_window: nanos(2 * 60 * 60 * 1000),
    // The outbox keeps every record until the hub acknowledges it and sends again what is stuck, so the
    // stream only needs to carry records while the hub sources them: 14 days bounds its disk use.
    max_age: nanos(SYNC_STREAM_MAX_AGE_MS),
  });
}

/**
 * Creates the box's stream of what the hub sends it (`hub.<site>.data.>`): hub-side changes and conflict
 * winners, kept until the services have applied them (each through its own durable consumer).
 */
export async function ensureHubStream(nc: NatsConnection, site: string): Promise<void> {
  await ensureStream(nc, {
    name: HUB_STREAM,
    subjects: [`hub.${site}.data.>`],
    storage: StorageType.File,
    duplicate_window: nanos(2 * 60 * 60 * 1000),
    max_age: nanos(SYNC_STREAM_MAX_AGE_MS),
  });
}

async function ensureStream(nc: NatsConnection, config: Partial<StreamConfig> & { name: string }) {
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
