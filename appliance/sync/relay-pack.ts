/**
 * The box's side of format 2: the outbox relay hands consecutive sync rows to `packSyncRows`, which puts them
 * into batch messages of one site and service (at most MAX_BATCH_BYTES of record JSON each) on
 * `sync.<site>.<service>._batch`. Each record keeps its own seq and previous seq inside the batch.
 */
import type { PackedMessage, SyncRow } from "../kit/outbox.js";
import {
  BATCH_FORMAT,
  BATCH_TOKEN,
  batchMsgId,
  encodeBatch,
  FORMAT_HEADER,
  MAX_BATCH_BYTES,
  splitBatches,
} from "./batch.js";
import { type ChangeRecord, PREV_SEQ_HEADER, SEQ_HEADER } from "./change.js";

/** How many outbox rows the relay reads per round when it packs (a few batches' worth). */
export const PACKED_RELAY_ROWS = 4096;
/** How long the relay lets commits gather after a wake-up before it packs them. */
export const RELAY_LINGER_MS = 20;

/** `sync.<site>.<service>` of a sync subject. */
const streamOf = (subject: string) => subject.split(".", 3).join(".");

/** Packs sync rows into batch messages, in seq order. */
export function packSyncRows(rows: SyncRow[], maxBytes = MAX_BATCH_BYTES): PackedMessage[] {
  const groups = splitBatches(
    rows,
    (r) => r.payload.length,
    (r) => streamOf(r.subject),
    maxBytes,
  );
  return groups.map((group) => {
    const [, site, service] = group[0]!.subject.split(".") as [string, string, string];
    const entries = group.map((r) => ({
      record: JSON.parse(r.payload) as ChangeRecord,
      seq: r.seq,
      prevSeq: r.prevSeq,
    }));
    return {
      subject: `${streamOf(group[0]!.subject)}.${BATCH_TOKEN}`,
      data: encodeBatch(site, service, entries),
      msgID: batchMsgId(group.map((r) => r.id)),
      headers: {
        [FORMAT_HEADER]: BATCH_FORMAT,
        [SEQ_HEADER]: String(group[group.length - 1]!.seq),
        [PREV_SEQ_HEADER]: String(group[0]!.prevSeq),
      },
    };
  });
}
