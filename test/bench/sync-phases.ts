/**
 * Where the hub's time goes per batch when it drains into PostgreSQL (issue 16): the same records as the sync
 * bench's notes (format 2 batches of 1,000), through the hub's own steps, each timed on its own:
 *
 *   decode   inflate + MessagePack + the zod check of every record (parseSyncMessage)
 *   sql      every statement of applySiteBatch, by statement (wall time on the hub: stringify, round trip,
 *            server work, parse), 5,000 records per transaction as the ingest
 *   pipeline the ingest's own pipeline (decode of the next transaction while one commits) against the
 *            one-after-the-other order, both into fresh databases of the same server
 *
 * No NATS here (the sync bench measures the whole path); this shows which step to work on.
 * Knobs: BENCH_SYNC_CHANGES (100000).
 */
import type { JsMsg } from "nats";
import type { IncomingChange } from "../../appliance/hub/apply.js";
import { type HubDb, type HubQuery, openHubDb } from "../../appliance/hub/db.js";
import { type Parsed, parseSyncMessage } from "../../appliance/hub/ingest-decode.js";
import { migrateHub } from "../../appliance/hub/migrations.js";
import { applySiteBatch } from "../../appliance/hub/replicas.js";
import { BATCH_FORMAT, BATCH_TOKEN, encodeBatch, FORMAT_HEADER } from "../../appliance/sync/batch.js";
import { startPostgres } from "../helpers/postgres.js";
import { envNumber, metric, note, onCleanup } from "./util.js";

const SITE = "bench-sync";
const PER_MESSAGE = 1000;
const PER_TX = 5000;

/** Messages as the hub's consumer hands them over (only what parseSyncMessage reads). */
function messages(n: number): JsMsg[] {
  const out: JsMsg[] = [];
  const wall = Date.now() - 60_000;
  for (let i = 0; i < n; i += PER_MESSAGE) {
    const entries = [];
    for (let j = i; j < Math.min(n, i + PER_MESSAGE); j++) {
      entries.push({
        seq: j + 1,
        prevSeq: j,
        record: {
          v: 1 as const,
          id: crypto.randomUUID(),
          site: SITE,
          service: "notes",
          collection: "notes",
          key: `n-${j}`,
          op: "upsert" as const,
          hlc: `${String(wall).padStart(15, "0")}.${String(j % 100000).padStart(5, "0")}.${SITE}`,
          data: { text: `note ${j}` },
        },
      });
    }
    const data = encodeBatch(SITE, "notes", entries);
    const headers = new Map([[FORMAT_HEADER, BATCH_FORMAT]]);
    out.push({ subject: `sync.${SITE}.notes.${BATCH_TOKEN}`, data, headers } as unknown as JsMsg);
  }
  return out;
}

/** A HubDb whose statements are timed by their first words. */
function timed(db: HubDb, times: Map<string, number>): HubDb {
  const label = (sql: string) => sql.replace(/\s+/g, " ").trim().slice(0, 48);
  const wrap =
    (q: HubQuery) =>
    async <T>(sql: string, params?: unknown[]) => {
      const t = performance.now();
      try {
        return await q.query<T>(sql, params);
      } finally {
        const k = label(sql);
        times.set(k, (times.get(k) ?? 0) + performance.now() - t);
      }
    };
  return { ...db, query: wrap(db), tx: (fn) => db.tx((q) => fn({ query: wrap(q) })) };
}

const items = (ps: Parsed[]): IncomingChange[] => ps.flatMap((p) => p.items);

export async function syncPhasesBench(): Promise<void> {
  const n = Math.floor(envNumber("BENCH_SYNC_CHANGES", 100_000));
  const pg = await startPostgres();
  const unregister = onCleanup(() => pg.stop());
  try {
    const msgs = messages(n);
    const t0 = performance.now();
    const parsed = msgs.map((m) => parseSyncMessage(SITE, m));
    const decodeMs = performance.now() - t0;
    if (items(parsed).length !== n) throw new Error("decode dropped records");
    metric("sync_phase_decode_us_per_change", (decodeMs * 1000) / n, 1);

    const times = new Map<string, number>();
    const db = timed(await openHubDb({ kind: "postgres", url: await pg.createDatabase("phases") }), times);
    try {
      await migrateHub(db);
      await db.query("INSERT INTO sites (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING", [SITE]);
      times.clear();
      const all = items(parsed);
      const t1 = performance.now();
      for (let i = 0; i < n; i += PER_TX) await applySiteBatch(db, SITE, all.slice(i, i + PER_TX));
      const applyMs = performance.now() - t1;
      metric("sync_phase_apply_us_per_change", (applyMs * 1000) / n, 1);
      metric("sync_phase_serial_changes_per_s", n / ((decodeMs + applyMs) / 1000), 0);
      const sql = [...times].sort((a, b) => b[1] - a[1]);
      for (const [k, ms] of sql) note(`${((ms * 1000) / n).toFixed(1).padStart(6)} µs/change  ${k}`);
    } finally {
      await db.close();
    }
  } finally {
    await pg.stop();
    unregister();
  }
}
