/**
 * Sync format 2 (appliance/sync/batch.ts) through the hub's real ingest: a real nats-server holds the site's
 * stream (here filled by publishing, as the leafnode sourcing would), `SiteIngest` applies it into PGlite.
 * Format 1 messages (boxes of the previous version) and format 2 batches mix in one stream; conflicts inside a
 * batch, the size bound, hostile batches, and the hub → box direction. The whole path with real boxes, a
 * kill -9 of the hub mid-batch and PostgreSQL is in sync.test.ts, hub-kill9.test.ts and sync-postgres.test.ts.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { deflateRawSync } from "node:zlib";
import { connect, headers, type JetStreamClient, type NatsConnection } from "nats";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyChanges, losersOf, recordsOf, watermarkOf } from "../../appliance/hub/apply.js";
import { type HubDb, openHubDb } from "../../appliance/hub/db.js";
import { ensureEdgeStream, SiteIngest } from "../../appliance/hub/ingest.js";
import { migrateHub } from "../../appliance/hub/migrations.js";
import { deliver, enqueue } from "../../appliance/hub/outbound.js";
import type { SyncRow } from "../../appliance/kit/outbox.js";
import { dataPaths } from "../../appliance/paths.js";
import { openLog } from "../../appliance/supervisor/log-files.js";
import { type RunningNats, startNats } from "../../appliance/supervisor/nats-server.js";
import {
  BATCH_FORMAT,
  decodeBatch,
  FORMAT_HEADER,
  MAX_BATCH_BYTES,
  MAX_BATCH_INFLATED,
} from "../../appliance/sync/batch.js";
import { type ChangeRecord, PREV_SEQ_HEADER, SEQ_HEADER } from "../../appliance/sync/change.js";
import { packSyncRows } from "../../appliance/sync/relay-pack.js";
import { removeDir, tempDir, waitFor } from "../helpers/appliance.js";
import { stopChild } from "../helpers/processes.js";

const SITE = "site-a";
const log = pino({ level: process.env.NEXUS_TEST_LOG ?? "silent" });
let dir: string;
let nats: RunningNats;
let nc: NatsConnection;
let js: JetStreamClient;
let db: HubDb;
let ingest: SiteIngest;
let seq = 0;
const wall0 = Date.now() - 60_000;

const hlc = (offsetMs: number, node = SITE) => `${String(wall0 + offsetMs).padStart(15, "0")}.00000.${node}`;

function record(key: string, at: number, over: Partial<ChangeRecord> = {}): ChangeRecord {
  return {
    v: 1,
    id: randomUUID(),
    site: SITE,
    service: "forms",
    collection: "notes",
    key,
    op: "upsert",
    hlc: hlc(at),
    data: { text: `${key} at ${at}`, n: at },
    ...over,
  };
}

/** Outbox rows as the box's relay sees them: seq in order, each chained to the one before. */
function rows(records: ChangeRecord[]): SyncRow[] {
  return records.map((r) => {
    const prevSeq = seq;
    return {
      seq: ++seq,
      prevSeq,
      id: r.id,
      subject: `sync.${SITE}.${r.service}.${r.collection}`,
      payload: JSON.stringify(r),
    };
  });
}

async function publishBatches(rs: SyncRow[], maxBytes?: number): Promise<number> {
  const packed = packSyncRows(rs, maxBytes);
  for (const m of packed) {
    const h = headers();
    for (const [k, v] of Object.entries(m.headers)) h.set(k, v);
    await js.publish(m.subject, m.data, { msgID: m.msgID, headers: h });
  }
  return packed.length;
}

/** A format 1 message, as a box of the previous version publishes it. */
async function publishSingle(row: SyncRow): Promise<void> {
  const h = headers();
  h.set(SEQ_HEADER, String(row.seq));
  h.set(PREV_SEQ_HEADER, String(row.prevSeq));
  await js.publish(row.subject, row.payload, { msgID: row.id, headers: h });
}

const watermark = async () => (await watermarkOf(db, SITE, "forms"))?.seq ?? 0;
const inboxCount = async () =>
  Number((await db.query<{ n: number }>("SELECT count(*) AS n FROM inbox"))[0]!.n);

beforeAll(async () => {
  dir = tempDir("nexus-sync-batch-");
  const paths = dataPaths(dir);
  mkdirSync(paths.logs, { recursive: true });
  nats = await startNats({
    bin: "nats-server",
    paths,
    site: "hubtest",
    logFd: openLog(paths.logFile("nats")),
  });
  nc = await connect({ servers: nats.url, user: nats.creds.user, pass: nats.creds.pass });
  js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  // The site's stream as the hub has it, filled by publishing instead of sourcing over a leafnode.
  await jsm.streams.add({ name: `EDGE_${SITE}`, subjects: [`sync.${SITE}.>`] });
  await jsm.streams.add({ name: "BOX_HUB", subjects: [`hub.${SITE}.data.>`] });
  await ensureEdgeStream(jsm, SITE);
  db = await openHubDb({ kind: "pglite", dir: `${dir}/hub-db` });
  await migrateHub(db);
  ingest = new SiteIngest(SITE, nc, js, db, log);
  ingest.start();
}, 180_000);

afterAll(async () => {
  await ingest?.stop();
  await db?.close();
  await nc?.close();
  await stopChild(nats?.child, "SIGKILL");
  removeDir(dir);
});

describe("format 2 batches at the hub", () => {
  it("a mixed fleet: format 1 messages and batches both apply, each record once", async () => {
    const old = rows([record("old-1", 1), record("old-2", 2)]);
    for (const r of old) await publishSingle(r);
    const batch = rows(Array.from({ length: 50 }, (_, i) => record(`new-${i}`, 10 + i)));
    expect(await publishBatches(batch)).toBe(1);
    // The same records again: a re-sent batch with other bounds, and one of them as a format 1 message.
    await publishBatches(batch.slice(10), 2000);
    await publishSingle(batch[20]!);
    await waitFor(async () => (await watermark()) === seq, 20_000);
    expect(await inboxCount()).toBe(52);
    expect((await recordsOf(db, "notes")).map((r) => r.key)).toHaveLength(52);
    expect(ingest.speaksBatch).toBe(true);
  });

  it("a batch with a conflicting record in the middle: the rest applies, the loser is kept", async () => {
    // Another site's later version of `shared` is already on the hub.
    const other = record("shared", 500, { site: "site-b", hlc: hlc(500, "site-b") });
    await applyChanges(db, [{ msgId: other.id, seq: 1, record: other }]);
    const older = record("shared", 300);
    const batch = rows([record("c-1", 301), older, record("c-2", 302), record("c-3", 303)]);
    await publishBatches(batch);
    await waitFor(async () => (await watermark()) === seq, 20_000);
    const current = new Map((await recordsOf(db, "notes")).map((r) => [r.key, r]));
    expect(current.get("shared")).toMatchObject({ site: "site-b", hlc: other.hlc });
    for (const k of ["c-1", "c-2", "c-3"]) expect(current.get(k)?.site).toBe(SITE);
    const losers = await losersOf(db, "notes", "shared");
    expect(losers).toHaveLength(1);
    expect(losers[0]).toMatchObject({
      hlc: older.hlc,
      site: SITE,
      lostToHlc: other.hlc,
      lostToSite: "site-b",
    });

    // Several versions of one key inside one batch: the latest wins, the others are kept as losers.
    const v = [record("multi", 400), record("multi", 402), record("multi", 401)];
    await publishBatches(rows(v));
    await waitFor(async () => (await watermark()) === seq, 20_000);
    expect((await recordsOf(db, "notes")).find((r) => r.key === "multi")?.hlc).toBe(v[1]!.hlc);
    const multi = await losersOf(db, "notes", "multi");
    // Which version beat each loser depends on the order within the batch (by record id), as before batches.
    expect(multi.map((l) => l.hlc).sort()).toEqual([v[0]!.hlc, v[2]!.hlc]);
  });

  it("records beyond the size bound are split into several batches, a huge one alone, all applied", async () => {
    const big = record("big", 700, { data: { text: "x".repeat(MAX_BATCH_BYTES) } });
    const many = Array.from({ length: 1500 }, (_, i) =>
      record(`bulk-${i}`, 800 + i, { data: { text: `note ${i} `.repeat(20) } }),
    );
    const rs = rows([...many.slice(0, 700), big, ...many.slice(700)]);
    const packed = packSyncRows(rs);
    const sizes = packed.map((m) => decodeBatch(m.data).entries.length);
    expect(packed.length).toBeGreaterThanOrEqual(4);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(rs.length);
    expect(sizes).toContain(1); // the big one
    for (const m of packed) {
      const entries = decodeBatch(m.data).entries;
      const json = entries.reduce((n, e) => n + JSON.stringify(e.record).length, 0);
      if (entries.length > 1) expect(json).toBeLessThanOrEqual(MAX_BATCH_BYTES);
      expect(m.headers[SEQ_HEADER]).toBe(String(entries.at(-1)!.seq));
    }
    // Seq order and the chain survive the split.
    const flat = packed.flatMap((m) => decodeBatch(m.data).entries);
    expect(flat.map((e) => e.seq)).toEqual(rs.map((r) => r.seq));
    expect(flat.map((e) => e.prevSeq)).toEqual(rs.map((r) => r.prevSeq));
    await publishBatches(rs);
    await waitFor(async () => (await watermark()) === seq, 30_000);
    const stored = new Map((await recordsOf(db, "notes")).map((r) => [r.key, r]));
    expect(stored.get("big")?.data).toEqual(big.data);
    expect(stored.get("bulk-1499")?.data).toEqual(many[1499]!.data);
  });

  it("refuses hostile batches: a compression bomb, another site's batch, a malformed record among good ones", async () => {
    const before = await inboxCount();
    const send = async (subject: string, data: Uint8Array) => {
      const h = headers();
      h.set(FORMAT_HEADER, BATCH_FORMAT);
      await js.publish(subject, data, { msgID: randomUUID(), headers: h });
    };
    await send(`sync.${SITE}.forms._batch`, deflateRawSync(Buffer.alloc(MAX_BATCH_INFLATED * 4)));
    await send(`sync.${SITE}.forms._batch`, Buffer.from("not deflate at all"));
    // A batch naming another site, on this site's subject.
    const foreign = rows([record("foreign", 900, { site: "site-b", hlc: hlc(900, "site-b") })]);
    const [msg] = packSyncRows(foreign.map((r) => ({ ...r, subject: `sync.site-b.forms.notes` })));
    seq--; // never applied: the chain goes on from the previous seq
    await send(`sync.${SITE}.forms._batch`, msg!.data);
    // One record with a broken hlc between two good ones: the good ones apply.
    const good = [record("h-1", 950), record("h-bad", 951, { hlc: "yesterday" }), record("h-2", 952)];
    const rs = rows(good);
    await publishBatches(rs);
    await waitFor(async () => (await inboxCount()) === before + 2, 20_000);
    const keys = (await recordsOf(db, "notes")).map((r) => r.key);
    expect(keys).toEqual(expect.arrayContaining(["h-1", "h-2"]));
    expect(keys).not.toContain("h-bad");
    expect(keys).not.toContain("foreign");
    // The broken record holds the watermark at the record before it (its box re-sends it later).
    await waitFor(async () => (await watermark()) === rs[0]!.seq, 10_000);
  });
});

describe("a record from the future, and a hub restart", () => {
  it("only the record stamped too far ahead waits (held, durably); the rest applies and is acked; the format is remembered", async () => {
    await ingest.stop();
    await db.query("INSERT INTO sites (id, name) VALUES ($1, $1) ON CONFLICT (id) DO NOTHING", [SITE]);
    await db.query("UPDATE sites SET sync_format = 1 WHERE id = $1", [SITE]);
    let clock = Date.now();
    const opts = { maxClockDriftMs: 5000, now: () => clock };
    const restart = () => {
      ingest = new SiteIngest(SITE, nc, js, db, log, opts);
      ingest.start();
    };
    restart();
    // Another service, so its chain starts afresh (this file's hostile test holds the forms chain for good).
    const tasks = async () => (await watermarkOf(db, SITE, "tasks"))?.seq ?? 0;
    // wall0 is 60 s (plus this file's run so far) in the past: +200 s is well ahead of the hub's clock and its 5 s.
    const ahead = record("f-ahead", 200_000, { service: "tasks" });
    const rs: SyncRow[] = [
      record("f-1", 1100, { service: "tasks" }),
      ahead,
      record("f-2", 1101, { service: "tasks" }),
    ].map((r, i) => ({
      seq: i + 1,
      prevSeq: i,
      id: r.id,
      subject: `sync.${SITE}.tasks.notes`,
      payload: JSON.stringify(r),
    }));
    await publishBatches(rs);
    const keys = async () => new Set((await recordsOf(db, "notes")).map((r) => r.key));
    await waitFor(async () => (await keys()).has("f-2"), 20_000);
    expect((await keys()).has("f-ahead")).toBe(false);
    const held = await db.query<{ msg_id: string }>("SELECT msg_id FROM inbox_held");
    expect(held.map((h) => h.msg_id)).toEqual([ahead.id]);
    // The batch is acknowledged (nothing redelivered), the watermark stops before the held record.
    const jsm = await nc.jetstreamManager();
    await waitFor(
      async () => (await jsm.consumers.info(`EDGE_${SITE}`, "hub-ingest")).num_ack_pending === 0,
      10_000,
    );
    expect(await tasks()).toBe(1);
    expect(ingest.speaksBatch).toBe(true);
    const [site] = await db.query<{ sync_format: number }>("SELECT sync_format FROM sites WHERE id = $1", [
      SITE,
    ]);
    expect(Number(site!.sync_format)).toBe(2);

    // A restarted hub knows the site speaks batches before it sends anything, and still holds the record.
    await ingest.stop();
    restart();
    await waitFor(() => ingest.speaksBatch, 10_000);
    clock += 200_000;
    await waitFor(async () => (await keys()).has("f-ahead"), 20_000);
    await waitFor(async () => (await tasks()) === 3, 10_000);
    expect(await db.query("SELECT msg_id FROM inbox_held")).toEqual([]);
  });
});

describe("format 2 batches from the hub to a box", () => {
  it("delivers consecutive records of one service as one batch, and a format 1 message to a box that never sent one", async () => {
    const versions = Array.from({ length: 30 }, (_, i) => ({
      collection: "settings",
      key: `s-${i}`,
      hlc: hlc(2000 + i, "hub"),
      site: "hub",
      op: "upsert" as const,
      data: { value: i },
    }));
    await db.tx(async (q) => {
      for (const v of versions) await enqueue(q, SITE, "forms", v);
    });
    expect(await deliver(db, js, SITE, log, { batch: true })).toBe(30);
    const jsm = await nc.jetstreamManager();
    let info = await jsm.streams.info("BOX_HUB");
    expect(info.state.messages).toBe(1);
    const m = await jsm.streams.getMessage("BOX_HUB", { seq: info.state.first_seq });
    expect(m.subject).toBe(`hub.${SITE}.data.forms._batch`);
    expect(m.header.get(FORMAT_HEADER)).toBe(BATCH_FORMAT);
    const batch = decodeBatch(m.data);
    expect(batch.entries.map((e) => e.record.key)).toEqual(versions.map((v) => v.key));
    expect(batch.entries[3]!.record).toMatchObject({ site: "hub", service: "forms", data: { value: 3 } });

    await db.tx((q) => enqueue(q, SITE, "forms", { ...versions[0]!, hlc: hlc(3000, "hub") }));
    expect(await deliver(db, js, SITE, log)).toBe(1);
    info = await jsm.streams.info("BOX_HUB");
    const single = await jsm.streams.getMessage("BOX_HUB", { seq: info.state.last_seq });
    expect(single.subject).toBe(`hub.${SITE}.data.forms.settings`);
    expect(JSON.parse(single.string())).toMatchObject({ key: "s-0", hlc: hlc(3000, "hub") });
  });
});
