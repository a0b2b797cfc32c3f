/**
 * The hub's schema, as ordered migrations that run unchanged on PGlite and on PostgreSQL.
 *
 * Invariants:
 * - A migration is never edited once released: add a new one. Names are `<unix-ts>_<what>` and sort in order.
 * - Each migration runs in its own transaction together with its `_migrations` row, under an advisory lock,
 *   so two hub processes starting against one Postgres apply it once.
 * - One statement per string (PGlite's extended protocol takes one at a time).
 */
import { bundleMigrations } from "./bundle-migrations.js";
import type { HubDb } from "./db.js";
import { packMigrations } from "./pack-migrations.js";

export interface Migration {
  name: string;
  statements: string[];
}

export const migrations: Migration[] = [
  {
    name: "1767225600_sync_store",
    statements: [
      `CREATE TABLE sites (
        id text PRIMARY KEY,
        name text NOT NULL,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
        enrolled_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        last_seen timestamptz,
        version text,
        profile text,
        nats_user text UNIQUE,
        nats_password_hash text
      )`,
      `CREATE TABLE enrol_tokens (
        id text PRIMARY KEY,
        token_hash text NOT NULL UNIQUE,
        site text,
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE inbox (
        msg_id text PRIMARY KEY,
        site text NOT NULL,
        service text NOT NULL,
        seq bigint NOT NULL,
        collection text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE records (
        collection text NOT NULL,
        key text NOT NULL,
        hlc text NOT NULL,
        site text NOT NULL,
        op text NOT NULL CHECK (op IN ('upsert', 'delete')),
        data jsonb,
        deleted boolean NOT NULL DEFAULT false,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (collection, key)
      )`,
      `CREATE TABLE record_losers (
        id bigserial PRIMARY KEY,
        collection text NOT NULL,
        key text NOT NULL,
        hlc text NOT NULL,
        site text NOT NULL,
        op text NOT NULL,
        data jsonb,
        lost_to_hlc text NOT NULL,
        lost_to_site text NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
      )`,
      "CREATE INDEX record_losers_key ON record_losers (collection, key)",
      `CREATE TABLE appended (
        id bigserial PRIMARY KEY,
        collection text NOT NULL,
        key text NOT NULL,
        hlc text NOT NULL,
        site text NOT NULL,
        op text NOT NULL,
        data jsonb,
        at timestamptz NOT NULL DEFAULT now()
      )`,
      "CREATE INDEX appended_key ON appended (collection, key)",
      `CREATE TABLE watermarks (
        site text NOT NULL,
        service text NOT NULL,
        seq bigint NOT NULL,
        hlc text NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (site, service)
      )`,
      `CREATE TABLE collection_policies (
        collection text PRIMARY KEY,
        policy text NOT NULL CHECK (policy IN ('lww', 'hub-wins', 'append-only'))
      )`,
    ],
  },
  {
    // The edge's `Nexus-Prev-Seq`: the watermark only moves along the chain, never across a missing record.
    name: "1767225601_inbox_prev_seq",
    statements: [
      "ALTER TABLE inbox ADD COLUMN prev_seq bigint NOT NULL DEFAULT 0",
      "ALTER TABLE inbox ADD COLUMN hlc text NOT NULL DEFAULT ''",
      "CREATE INDEX inbox_chain ON inbox (site, service, prev_seq, seq)",
    ],
  },
  {
    // Hub → box: what each site is still to receive (hub-side changes, conflict winners), in order.
    name: "1767225602_hub_outbox",
    statements: [
      `CREATE TABLE hub_outbox (
        id bigserial PRIMARY KEY,
        site text NOT NULL,
        msg_id text NOT NULL UNIQUE,
        subject text NOT NULL,
        payload text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz
      )`,
      "CREATE INDEX hub_outbox_pending ON hub_outbox (site, id) WHERE delivered_at IS NULL",
      "CREATE TABLE hub_clock (id integer PRIMARY KEY, hlc text NOT NULL)",
      "CREATE TABLE hub_collections (collection text PRIMARY KEY, service text NOT NULL)",
    ],
  },
  {
    // The watermark's chain walk looks for the next seq: without this it scanned every applied change.
    name: "1767225603_inbox_seq",
    statements: ["CREATE INDEX inbox_seq ON inbox (site, service, seq)"],
  },
  {
    // The fleet registry's "changes received": a counter kept with each batch, not a count over the inbox.
    name: "1767225604_sites_received",
    statements: [
      "ALTER TABLE sites ADD COLUMN received bigint NOT NULL DEFAULT 0",
      "UPDATE sites SET received = (SELECT count(*) FROM inbox WHERE inbox.site = sites.id)",
    ],
  },
  {
    // Form submissions from the boxes (services/forms/hub-sync.ts) keep every version: reviews and edits are
    // appended, never overwrite each other.
    name: "1767225605_form_submissions_append_only",
    statements: [
      "INSERT INTO collection_policies (collection, policy) VALUES ('form_submissions', 'append-only') ON CONFLICT (collection) DO NOTHING",
    ],
  },
  {
    // Boxes' backups on the hub (site-backups.ts): each object a site stored, by its key, pointing at the
    // content in the blob store; and each complete backup (its manifest arrived), for keep-N per site.
    name: "1796688000_site_backups",
    statements: [
      `CREATE TABLE backup_objects (
        site text NOT NULL,
        key text NOT NULL,
        sha256 text NOT NULL,
        size bigint NOT NULL,
        stored_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (site, key)
      )`,
      "CREATE INDEX backup_objects_sha ON backup_objects (sha256)",
      `CREATE TABLE site_backups (
        site text NOT NULL,
        id text NOT NULL,
        stored_at timestamptz NOT NULL DEFAULT now(),
        seq bigserial,
        PRIMARY KEY (site, id)
      )`,
    ],
  },
  {
    // Sync pipeline (issue 16): the chain walk uses inbox_seq, so inbox_chain only cost every insert; the
    // format a site speaks survives a hub restart; a record stamped too far ahead waits alone, durably, here.
    name: "1796682600_sync_pipeline",
    statements: [
      "DROP INDEX IF EXISTS inbox_chain",
      "ALTER TABLE sites ADD COLUMN sync_format smallint NOT NULL DEFAULT 1",
      `CREATE TABLE inbox_held (
        msg_id text PRIMARY KEY,
        site text NOT NULL,
        due_at bigint NOT NULL,
        change jsonb NOT NULL
      )`,
      "CREATE INDEX inbox_held_due ON inbox_held (site, due_at)",
    ],
  },
  ...bundleMigrations,
  ...packMigrations,
];

// Any constant will do; it only has to be the same in every hub process.
const LOCK_ID = 7_040_017;

/** Applies the migrations not yet recorded in `_migrations`, in order; returns the names it applied. */
export async function migrateHub(db: HubDb, list: Migration[] = migrations): Promise<string[]> {
  // Under the lock too: two concurrent CREATE TABLE IF NOT EXISTS can both try to create it.
  await db.tx(async (q) => {
    await q.query("SELECT pg_advisory_xact_lock($1)", [LOCK_ID]);
    await q.query(
      "CREATE TABLE IF NOT EXISTS _migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    );
  });
  const applied: string[] = [];
  for (const m of [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const ran = await db.tx(async (q) => {
      await q.query("SELECT pg_advisory_xact_lock($1)", [LOCK_ID]);
      const done = await q.query("SELECT 1 FROM _migrations WHERE name = $1", [m.name]);
      if (done.length > 0) return false;
      for (const sql of m.statements) await q.query(sql);
      await q.query("INSERT INTO _migrations (name) VALUES ($1)", [m.name]);
      return true;
    });
    if (ran) applied.push(m.name);
  }
  return applied;
}
