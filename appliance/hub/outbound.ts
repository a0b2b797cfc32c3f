/**
 * Hub → box. What a site must receive goes into `hub_outbox` in the transaction that decided it: hub-side
 * changes (to every active site), and the current version of a record a site holds a losing version of
 * (so every box converges on the policy's winner). A delivery loop per site publishes pending rows in order
 * into the box's `NEXUS_HUB` stream over the leafnode and marks them delivered on the box's PubAck; while the
 * link is down they wait. Message ids make a re-delivery a no-op on the box.
 */
import { createHash } from "node:crypto";
import { headers, type JetStreamClient } from "nats";
import type { Logger } from "../kit/index.js";
import {
  BATCH_FORMAT,
  BATCH_TOKEN,
  batchMsgId,
  type ChangeRecord,
  encodeBatch,
  FORMAT_HEADER,
  Hlc,
  hubDataSubject,
  splitBatches,
} from "../sync/index.js";
import { HUB_SITE, type IncomingChange, type StoredVersion } from "./apply.js";
import type { HubDb, HubQuery } from "./db.js";

/** A record's current version (apply.ts's stored shape). */
type CurrentRow = StoredVersion;

/** Queues `record` for `site`; the message id is derived from the version, so queuing twice is harmless. */
export async function enqueue(q: HubQuery, site: string, service: string, record: CurrentRow): Promise<void> {
  const msgId = createHash("sha256")
    .update(JSON.stringify([site, record.collection, record.key, record.hlc, record.site]))
    .digest("hex")
    .slice(0, 40);
  const payload: ChangeRecord = {
    v: 1,
    id: msgId,
    site: record.site,
    service,
    collection: record.collection,
    key: record.key,
    op: record.op,
    hlc: record.hlc,
    data: record.data ?? null,
  };
  await q.query(
    `INSERT INTO hub_outbox (site, msg_id, subject, payload) VALUES ($1, $2, $3, $4)
     ON CONFLICT (msg_id) DO NOTHING`,
    [site, msgId, hubDataSubject(site, service, record.collection), JSON.stringify(payload)],
  );
}

async function current(q: HubQuery, collection: string, key: string): Promise<CurrentRow | null> {
  const [row] = await q.query<CurrentRow>(
    "SELECT collection, key, hlc, site, op, data FROM records WHERE collection = $1 AND key = $2",
    [collection, key],
  );
  return row ?? null;
}

/**
 * After an edge batch: for each key it touched, the sites holding another version than the current one (they
 * wrote a version that lost) get the current one. Two statements for the whole batch find them.
 */
export async function queueWinners(
  db: HubDb,
  batch: IncomingChange[],
  active: ReadonlySet<string>,
): Promise<number> {
  const services = new Map<string, string>();
  for (const c of batch) services.set(`${c.record.collection}\u0000${c.record.key}`, c.record.service);
  if (services.size === 0) return 0;
  const keys = [...services.keys()].map((k) => k.split("\u0000") as [string, string]);
  let queued = 0;
  await db.tx(async (q) => {
    const losers = await q.query<{ collection: string; key: string; site: string }>(
      `SELECT DISTINCT l.collection, l.key, l.site FROM record_losers l
       JOIN unnest($1::text[], $2::text[]) AS u(c, k) ON l.collection = u.c AND l.key = u.k`,
      [keys.map((k) => k[0]), keys.map((k) => k[1])],
    );
    const wanted = losers.filter((l) => l.site !== HUB_SITE && active.has(l.site));
    if (wanted.length === 0) return;
    const rows = await q.query<CurrentRow>(
      `SELECT collection, key, hlc, site, op, data FROM records
       WHERE (collection, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [wanted.map((l) => l.collection), wanted.map((l) => l.key)],
    );
    const cur = new Map(rows.map((r) => [`${r.collection}\u0000${r.key}`, r]));
    for (const l of wanted) {
      const id = `${l.collection}\u0000${l.key}`;
      const row = cur.get(id);
      if (!row || row.site === l.site) continue;
      await enqueue(q, l.site, services.get(id)!, row);
      queued++;
    }
  });
  return queued;
}

/** The hub's own clock for hub-side changes, persisted so it never goes backwards. */
export async function hubTick(q: HubQuery): Promise<string> {
  const [row] = await q.query<{ hlc: string }>("SELECT hlc FROM hub_clock WHERE id = 1 FOR UPDATE");
  const clock = new Hlc(HUB_SITE, row ? { last: row.hlc } : {});
  const next = clock.now();
  await q.query(
    "INSERT INTO hub_clock (id, hlc) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET hlc = excluded.hlc",
    [next],
  );
  return next;
}

/** Every current hub-side record, for a site that just enrolled. */
export async function queueHubRecords(db: HubDb, site: string): Promise<void> {
  await db.tx(async (q) => {
    const rows = await q.query<CurrentRow & { service: string }>(
      `SELECT r.collection, r.key, r.hlc, r.site, r.op, r.data, c.service FROM records r
       JOIN hub_collections c ON c.collection = r.collection WHERE r.site = $1 ORDER BY r.hlc`,
      [HUB_SITE],
    );
    for (const r of rows) await enqueue(q, site, r.service, r);
  });
}

/**
 * A change made on the hub (config, reference data, …) for `service`'s `collection`: applied with the
 * collection's policy like any other, and queued for every active site when it is the current version.
 */
export async function writeHubRecord(
  db: HubDb,
  input: { service: string; collection: string; key: string; op: "upsert" | "delete"; data: unknown },
  sites: readonly string[],
  apply: (q: HubQuery, change: IncomingChange) => Promise<void>,
): Promise<CurrentRow | null> {
  return db.tx(async (q) => {
    const hlc = await hubTick(q);
    await q.query(
      `INSERT INTO hub_collections (collection, service) VALUES ($1, $2)
       ON CONFLICT (collection) DO UPDATE SET service = excluded.service`,
      [input.collection, input.service],
    );
    const record: ChangeRecord = {
      v: 1,
      id: createHash("sha256").update(`${input.collection}/${input.key}/${hlc}`).digest("hex").slice(0, 40),
      site: HUB_SITE,
      service: input.service,
      collection: input.collection,
      key: input.key,
      op: input.op,
      hlc,
      data: input.op === "delete" ? null : (input.data ?? null),
    };
    await apply(q, { msgId: record.id, seq: 0, record });
    const cur = await current(q, input.collection, input.key);
    if (cur && cur.hlc === hlc && cur.site === HUB_SITE) {
      for (const site of sites) await enqueue(q, site, input.service, cur);
    }
    return cur;
  });
}

interface OutboxRow {
  id: string | number;
  msg_id: string;
  subject: string;
  payload: string;
}

/** `hub.<site>.data.<service>` of a delivery subject. */
const streamOf = (subject: string) => subject.split(".", 4).join(".");

/**
 * Publishes a site's pending rows in order until none is left or the box does not answer. With `batch` (the
 * box sent format 2, so it reads it), consecutive rows of one service go as one format 2 message.
 */
export async function deliver(
  db: HubDb,
  js: JetStreamClient,
  site: string,
  log: Logger,
  opts: { batch?: boolean } = {},
): Promise<number> {
  let sent = 0;
  for (;;) {
    const rows = await db.query<OutboxRow>(
      "SELECT id, msg_id, subject, payload FROM hub_outbox WHERE site = $1 AND delivered_at IS NULL ORDER BY id LIMIT 1000",
      [site],
    );
    if (rows.length === 0) return sent;
    const groups = opts.batch
      ? splitBatches(
          rows,
          (r) => r.payload.length,
          (r) => streamOf(r.subject),
        )
      : rows.map((r) => [r]);
    for (const group of groups) {
      try {
        await publishGroup(js, group);
      } catch (err) {
        log.debug({ site, err: (err as Error).message }, "box not reachable; hub records wait");
        return sent;
      }
      await db.query("UPDATE hub_outbox SET delivered_at = now() WHERE id = ANY($1::bigint[])", [
        group.map((r) => Number(r.id)),
      ]);
      sent += group.length;
    }
  }
}

async function publishGroup(js: JetStreamClient, group: OutboxRow[]): Promise<void> {
  if (group.length === 1) {
    const [r] = group as [OutboxRow];
    await js.publish(r.subject, r.payload, { msgID: r.msg_id, timeout: 5000 });
    return;
  }
  const service = group[0]!.subject.split(".")[3]!;
  const entries = group.map((r) => ({ record: JSON.parse(r.payload) as ChangeRecord, seq: 0, prevSeq: 0 }));
  const h = headers();
  h.set(FORMAT_HEADER, BATCH_FORMAT);
  await js.publish(`${streamOf(group[0]!.subject)}.${BATCH_TOKEN}`, encodeBatch(HUB_SITE, service, entries), {
    msgID: batchMsgId(group.map((r) => r.msg_id)),
    headers: h,
    timeout: 5000,
  });
}
