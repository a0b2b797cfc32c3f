/** The box's sync streams: change records for the hub, and what the hub sends back. Created by the supervisor. */
import { type NatsConnection, nanos, StorageType } from "nats";
import { ensureStream } from "../kit/nats.js";
import { HUB_STREAM, SYNC_STREAM } from "./change.js";

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
 * Moves an empty sync stream's next sequence up to `firstSeq` (a purge to that sequence); a stream holding
 * messages is left alone. For a box restored onto a fresh nats store: the hub sources this stream from the
 * sequence after the last it got from the box's earlier stream, and would skip every message numbered below.
 * Returns whether it moved.
 */
export async function startSyncStreamAt(nc: NatsConnection, firstSeq: number): Promise<boolean> {
  const jsm = await nc.jetstreamManager();
  const { state } = await jsm.streams.info(SYNC_STREAM);
  if (state.messages > 0 || state.last_seq + 1 >= firstSeq) return false;
  await jsm.streams.purge(SYNC_STREAM, { seq: firstSeq });
  return true;
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
