/**
 * What the hub reads off a site's stream: format 1 (one JSON change record per message, from boxes of the
 * previous version) or format 2 (a batch, `Nexus-Sync-Format: 2`, see appliance/sync/batch.ts). Either way a
 * box can only speak for itself, on its own subjects: a record of another site, or on a subject that does not
 * match it, is dropped.
 */
import type { JsMsg } from "nats";
import {
  BATCH_FORMAT,
  BATCH_TOKEN,
  changeRecordSchema,
  decodeBatch,
  FORMAT_HEADER,
  PREV_SEQ_HEADER,
  SEQ_HEADER,
  syncSubject,
} from "../sync/index.js";
import type { IncomingChange } from "./apply.js";

export interface Parsed {
  msg: JsMsg;
  format: 1 | 2;
  /** The valid records in the message. */
  items: IncomingChange[];
  /** Records in it that were not valid (a malformed message counts as one). */
  dropped: number;
}

/** Decodes one message of `site`'s stream. */
export function parseSyncMessage(site: string, msg: JsMsg): Parsed {
  return msg.headers?.get(FORMAT_HEADER) === BATCH_FORMAT ? parseBatch(site, msg) : parseSingle(site, msg);
}

function parseSingle(site: string, msg: JsMsg): Parsed {
  const none: Parsed = { msg, format: 1, items: [], dropped: 1 };
  try {
    const parsed = changeRecordSchema.safeParse(JSON.parse(new TextDecoder().decode(msg.data)));
    if (!parsed.success) return none;
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
      return none;
    }
    return { msg, format: 1, items: [{ msgId, seq, prevSeq, record }], dropped: 0 };
  } catch {
    return none;
  }
}

const seqOk = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

function parseBatch(site: string, msg: JsMsg): Parsed {
  const none: Parsed = { msg, format: 2, items: [], dropped: 1 };
  try {
    const batch = decodeBatch(msg.data);
    if (batch.site !== site || msg.subject !== `sync.${site}.${batch.service}.${BATCH_TOKEN}`) return none;
    const items: IncomingChange[] = [];
    for (const e of batch.entries) {
      const r = changeRecordSchema.safeParse(e.record);
      if (r.success && r.data.site === site && seqOk(e.seq) && seqOk(e.prevSeq))
        items.push({ msgId: r.data.id, seq: e.seq, prevSeq: e.prevSeq, record: r.data });
    }
    return { msg, format: 2, items, dropped: batch.entries.length - items.length };
  } catch {
    return none;
  }
}
