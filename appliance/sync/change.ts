/**
 * The sync wire contract between an edge and the hub: change records, their subjects and stream, the hub's
 * acknowledgement. Shared by both sides; imports nothing from either.
 *
 * Edge → hub: each change record is one JetStream message on `sync.<site>.<service>.<collection>` in the
 * edge's `NEXUS_SYNC` stream, `Nats-Msg-Id` = record id, headers `Nexus-Seq` (the edge outbox seq) and
 * `Nexus-Prev-Seq` (the seq of the service's previous sync record still unacknowledged, 0 when none).
 * Hub → edge: core NATS messages on `hub.<site>.ack.<service>`: "every record of this service up to `seq` is
 * applied". The edge then deletes those outbox rows, so `seq` must be contiguous (see `Nexus-Prev-Seq`).
 */
import { z } from "zod";
import { SERVICE_NAME, SITE_ID } from "../lib/names.js";
import { isHlc } from "./hlc.js";

/** The edge's JetStream stream of change records. */
export const SYNC_STREAM = "NEXUS_SYNC";
/** The outbox relay's headers (`Nexus-Seq`, `Nexus-Prev-Seq`) and which of its subjects carry records. */
export { isSyncSubject, PREV_SEQ_HEADER, SEQ_HEADER } from "../kit/outbox.js";

/** A synced collection's name: one subject token. */
export const COLLECTION_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

const hlcString = z.string().refine(isHlc, "malformed hlc timestamp");

export const changeRecordSchema = z.object({
  v: z.literal(1),
  id: z.string().min(1).max(128),
  site: z.string().regex(SITE_ID),
  service: z.string().regex(SERVICE_NAME),
  collection: z.string().regex(COLLECTION_NAME),
  key: z.string().min(1).max(512),
  op: z.enum(["upsert", "delete"]),
  hlc: hlcString,
  data: z.unknown().nullable(),
});

/** One change of one row of a synced collection. `data` is the row after an upsert, null after a delete. */
export type ChangeRecord = z.infer<typeof changeRecordSchema>;

export const syncAckSchema = z.object({
  service: z.string().regex(SERVICE_NAME),
  /** Every sync record of the service with an outbox seq up to this one is applied at the hub. */
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  /** The hub's clock when it sent the ack. */
  hlc: hlcString.optional(),
  at: z.iso.datetime({ offset: true }),
});

export type SyncAck = z.infer<typeof syncAckSchema>;

function check(kind: string, value: string, re: RegExp): string {
  if (!re.test(value)) throw new Error(`invalid ${kind} for a sync subject: ${JSON.stringify(value)}`);
  return value;
}

/** The subject a change record travels on. Throws on a token that is not a plain subject token. */
export function syncSubject(site: string, service: string, collection: string): string {
  return `sync.${check("site", site, SITE_ID)}.${check("service", service, SERVICE_NAME)}.${check("collection", collection, COLLECTION_NAME)}`;
}

/** The core NATS subject the hub acknowledges a service's records on. */
export function ackSubject(site: string, service: string): string {
  return `hub.${check("site", site, SITE_ID)}.ack.${check("service", service, SERVICE_NAME)}`;
}

/** The box's JetStream stream of what the hub sends it (hub-side changes, conflict winners). */
export const HUB_STREAM = "NEXUS_HUB";

/** The subject the hub delivers a record for one service of one box on (captured by the box's NEXUS_HUB). */
export function hubDataSubject(site: string, service: string, collection: string): string {
  return `hub.${check("site", site, SITE_ID)}.data.${check("service", service, SERVICE_NAME)}.${check("collection", collection, COLLECTION_NAME)}`;
}
