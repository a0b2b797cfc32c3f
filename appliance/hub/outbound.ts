/**
 * Hub → box. What a site must receive goes into `hub_outbox` in the transaction that decided it: hub-side
 * changes (to every active site), and the current version of a record a site holds a losing version of
 * (so every box converges on the policy's winner). A delivery loop per site publishes pending rows in order
 * into the box's `NEXUS_HUB` stream over the leafnode and marks them delivered on the box's PubAck; while the
 * link is down they wait. Message ids make a re-delivery a no-op on the box.
 */
import { createHash } from "node:crypto";
import type { JetStreamClient } from "nats";
import type { Logger } from "../kit/index.js";
import { type ChangeRecord, Hlc, hubDataSubject } from "../sync/index.js";
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
 * wrote a version that lost) get the current one.
 */
export async function queueWinners(
  db: HubDb,
  batch: IncomingChange[],
  active: ReadonlySet<string>,
): Promise<number> {
  const keys = new Map<string, { collection: string; key: string; service: string }>();
  for (const c of batch) {
    const r = c.record;
    keys.set(JSON.stringify([r.collection, r.key]), {
      collection: r.collection,
      key: r.key,
      service: r.service,
    });
  }
  let queued = 0;
  await db.tx(async (q) => {
    for (const { collection, key, service } of keys.values()) {
      const cur = await current(q, collection, key);
      if (!cur) continue;
      const losers = await q.query<{ site: string }>(
        "SELECT DISTINCT site FROM record_losers WHERE collection = $1 AND key = $2",
        [collection, key],
      );
      for (const { site } of losers) {
        if (site === cur.site || site === HUB_SITE || !active.has(site)) continue;
        await enqueue(q, site, service, cur);
        queued++;
      }
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

/** Publishes a site's pending rows in order until none is left or the box does not answer. */
export async function deliver(db: HubDb, js: JetStreamClient, site: string, log: Logger): Promise<number> {
  let sent = 0;
  for (;;) {
    const rows = await db.query<{ id: string | number; msg_id: string; subject: string; payload: string }>(
      "SELECT id, msg_id, subject, payload FROM hub_outbox WHERE site = $1 AND delivered_at IS NULL ORDER BY id LIMIT 200",
      [site],
    );
    if (rows.length === 0) return sent;
    for (const r of rows) {
      try {
        await js.publish(r.subject, r.payload, { msgID: r.msg_id, timeout: 5000 });
      } catch (err) {
        log.debug({ site, err: (err as Error).message }, "box not reachable; hub records wait");
        return sent;
      }
      await db.query("UPDATE hub_outbox SET delivered_at = now() WHERE id = $1", [r.id]);
      sent++;
    }
  }
}
