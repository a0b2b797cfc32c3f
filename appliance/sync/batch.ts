/**
 * Sync wire format 2: many change records of one service in one message, both ways (edge → hub on
 * `sync.<site>.<service>._batch`, hub → edge on `hub.<site>.data.<service>._batch`), marked by the header
 * `Nexus-Sync-Format: 2`. A message without that header is format 1: one JSON change record (boxes and hubs
 * of the previous version still send those, and both ends still accept them).
 *
 * The payload is raw deflate over MessagePack of a columnar batch: the site and service once, then one array
 * per field. Record ids that are UUIDs travel as 16 bytes. Each record keeps its own id (the hub's inbox key),
 * outbox seq and previous seq, so acks and watermarks work per record exactly as in format 1; the message id
 * of a batch only spares the duplicate window a copy of the same batch.
 *
 * Decoding never trusts the sender: inflating stops at MAX_BATCH_INFLATED bytes, and every record is checked
 * against `changeRecordSchema` by the receiver like a format 1 record.
 */
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { Packr } from "msgpackr";
import type { ChangeRecord } from "./change.js";

/** The header that marks a format 2 (batch) message. */
export const FORMAT_HEADER = "Nexus-Sync-Format";
export const BATCH_FORMAT = "2";
/** The last subject token of a batch message (collections cannot start with `_`, so it never collides). */
export const BATCH_TOKEN = "_batch";
/** A batch closes once its records' JSON adds up to this (one bigger record travels alone). */
export const MAX_BATCH_BYTES = 256 * 1024;
/** What a receiver inflates at most: a batch that inflates beyond is refused (a compression bomb). */
export const MAX_BATCH_INFLATED = 4 * 1024 * 1024;

/** One record in a batch, with the outbox seq and previous seq the edge gave it (0 on hub → edge). */
export interface BatchEntry {
  record: ChangeRecord;
  seq: number;
  prevSeq: number;
}

interface Columns {
  v: 2;
  site: string;
  service: string;
  id: (string | Uint8Array)[];
  seq: number[];
  prev: number[];
  /** Record sites that differ from `site` (hub → edge: winners written elsewhere), by index; else absent. */
  rsite?: Record<number, string>;
  collection: string[];
  key: string[];
  /** 1 = upsert, 0 = delete. */
  op: number[];
  hlc: string[];
  data: unknown[];
}

let packer: Packr | undefined;
/** msgpackr (~6 MB of memory) loads with the first batch: a box that has not written since it started has none. */
function packr(): Packr {
  if (!packer) {
    const { Packr } = createRequire(import.meta.url)("msgpackr") as typeof import("msgpackr");
    packer = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });
  }
  return packer;
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function packId(id: string): string | Uint8Array {
  return UUID.test(id) ? Buffer.from(id.replaceAll("-", ""), "hex") : id;
}

function unpackId(id: unknown): string {
  if (typeof id === "string") return id;
  if (!(id instanceof Uint8Array) || id.length !== 16) throw new Error("malformed record id");
  const h = Buffer.from(id).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Encodes records of one site and service (format 2 payload). */
export function encodeBatch(site: string, service: string, entries: readonly BatchEntry[]): Uint8Array {
  const c: Columns = {
    v: 2,
    site,
    service,
    id: [],
    seq: [],
    prev: [],
    collection: [],
    key: [],
    op: [],
    hlc: [],
    data: [],
  };
  entries.forEach(({ record: r, seq, prevSeq }, i) => {
    if (r.service !== service) throw new Error(`a ${r.service} record in a ${service} batch`);
    if (r.site !== site) {
      c.rsite ??= {};
      c.rsite[i] = r.site;
    }
    c.id.push(packId(r.id));
    c.seq.push(seq);
    c.prev.push(prevSeq);
    c.collection.push(r.collection);
    c.key.push(r.key);
    c.op.push(r.op === "delete" ? 0 : 1);
    c.hlc.push(r.hlc);
    c.data.push(r.data ?? null);
  });
  return deflateRawSync(packr().pack(c));
}

const isArr = (v: unknown, n: number): v is unknown[] => Array.isArray(v) && v.length === n;

/**
 * Decodes a format 2 payload into records (not yet validated: check each with `changeRecordSchema`). Throws on
 * anything that is not a well-formed batch, or one that inflates past MAX_BATCH_INFLATED.
 */
export function decodeBatch(data: Uint8Array): { site: string; service: string; entries: BatchEntry[] } {
  const c = packr().unpack(inflateRawSync(data, { maxOutputLength: MAX_BATCH_INFLATED })) as Partial<Columns>;
  if (!c || typeof c !== "object" || c.v !== 2) throw new Error("not a sync batch");
  const { site, service } = c;
  const n = Array.isArray(c.id) ? c.id.length : -1;
  const cols = [c.seq, c.prev, c.collection, c.key, c.op, c.hlc, c.data];
  if (typeof site !== "string" || typeof service !== "string" || n < 0 || !cols.every((x) => isArr(x, n)))
    throw new Error("malformed sync batch");
  const rsite = c.rsite && typeof c.rsite === "object" ? c.rsite : {};
  const entries: BatchEntry[] = [];
  for (let i = 0; i < n; i++) {
    entries.push({
      seq: c.seq![i]!,
      prevSeq: c.prev![i]!,
      record: {
        v: 1,
        id: unpackId(c.id![i]),
        site: Object.hasOwn(rsite, i) ? rsite[i]! : site,
        service,
        collection: c.collection![i]!,
        key: c.key![i]!,
        op: c.op![i] === 0 ? "delete" : c.op![i] === 1 ? "upsert" : (String(c.op![i]) as "upsert"),
        hlc: c.hlc![i]!,
        data: c.data![i] ?? null,
      },
    });
  }
  return { site, service, entries };
}

/**
 * Splits consecutive items into groups whose sizes add up to at most `maxBytes` (an item bigger than that
 * goes alone) and that share `groupOf` (one service per batch).
 */
export function splitBatches<T>(
  items: readonly T[],
  sizeOf: (item: T) => number,
  groupOf: (item: T) => string,
  maxBytes = MAX_BATCH_BYTES,
): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  let group = "";
  for (const item of items) {
    const size = sizeOf(item);
    const g = groupOf(item);
    if (cur.length > 0 && (bytes + size > maxBytes || g !== group)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(item);
    bytes += size;
    group = g;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** A batch's message id: the same records give the same id (the duplicate window drops a re-send). */
export function batchMsgId(recordIds: readonly string[]): string {
  const h = createHash("sha256");
  for (const id of recordIds) h.update(id).update("\n");
  return `b-${h.digest("hex").slice(0, 40)}`;
}
