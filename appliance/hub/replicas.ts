/**
 * Several hub replicas on one PostgreSQL and one NATS cluster. Nothing another replica needs lives in a
 * replica's memory:
 * - Ingest, partitioned by site: a replica ingests the sites whose ownership lock it holds (a session-level
 *   PostgreSQL advisory lock on its own connection, so a replica that dies, even by kill -9, lets go of its sites
 *   with its connection). Each replica claims at most its share, ceil(active sites / live replicas), and gives
 *   back what is over it when replicas join; live replicas are counted by a shared lock each one holds.
 *   Ownership is an optimisation, not what keeps a change from applying twice: every replica pulls from the
 *   same durable consumer, each batch applies in a transaction holding a per-site lock, and the inbox skips a
 *   message id seen before, so a redelivery (a replica killed after fetching, an ack lost with a NATS node)
 *   or two owners during a hand-over change nothing.
 * - The set of sites each replica ingests is the `sites` table: a replica that enrols or revokes announces it on
 *   `HUB_SITES_SUBJECT`, and every replica also re-reads the table every few seconds (an announcement lost
 *   while its connection was down is caught up).
 * - NATS users: a reload (enrolment, revocation, start) reads the active sites and writes the users file under
 *   a PostgreSQL advisory lock, so two replicas enrolling at once cannot write an older list after a newer one.
 */
import type { NatsConnection, Subscription } from "nats";
import pg from "pg";
import type { Logger } from "../kit/index.js";
import { type ApplyResult, applyChanges, applyChangesIn, type IncomingChange } from "./apply.js";
import type { HubDb, HubQuery } from "./db.js";
import { siteStatuses } from "./sites.js";

/** Core NATS subject on which a replica says "the sites table changed". Sites cannot subscribe to it. */
export const HUB_SITES_SUBJECT = "nexus-hub.sites.changed";

/** Advisory lock class (first key) of the hub's locks; the second key names what is locked. */
const LOCK_CLASS = 0x4e584842; // "NXHB"
const NATS_USERS_LOCK = "nats-users";

/** Runs fn holding the hub-wide advisory lock `name` (PostgreSQL); on PGlite (one process) it just runs fn. */
export async function withReplicaLock<T>(db: HubDb, name: string, fn: () => Promise<T>): Promise<T> {
  if (db.kind !== "postgres") return fn();
  return db.tx(async (q) => {
    await q.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [LOCK_CLASS, name]);
    return fn();
  });
}

/** A NATS users reload serialised across replicas (see the header). */
export function lockedReload(db: HubDb, reload: () => Promise<void>): () => Promise<void> {
  return () => withReplicaLock(db, NATS_USERS_LOCK, reload);
}

/** Takes the per-site apply lock inside the caller's transaction (PostgreSQL only). */
async function lockSite(q: HubQuery, site: string): Promise<void> {
  await q.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [LOCK_CLASS, `site:${site}`]);
}

/** Runs fn in one transaction holding the site's apply lock (PostgreSQL; PGlite has one connection). */
export function withSiteTx<T>(db: HubDb, site: string, fn: (q: HubQuery) => Promise<T>): Promise<T> {
  return db.tx(async (q) => {
    if (db.kind === "postgres") await lockSite(q, site);
    return fn(q);
  });
}

/**
 * Applies one site's batch: one transaction, holding the site's lock on PostgreSQL, so replicas pulling the
 * same consumer apply a site one batch at a time; the inbox makes a batch seen before a no-op. `also` runs in
 * the same transaction after the apply (the ingest holds records from the future with it).
 */
export function applySiteBatch(
  db: HubDb,
  site: string,
  batch: IncomingChange[],
  also?: (q: HubQuery) => Promise<void>,
): Promise<ApplyResult> {
  if (db.kind !== "postgres" && !also) return applyChanges(db, batch);
  return withSiteTx(db, site, async (q) => {
    const result = await applyChangesIn(q, batch);
    await also?.(q);
    return result;
  });
}

/** Tells every replica that the sites table changed (an enrolment or a revocation). */
export function announceSites(nc: NatsConnection): void {
  nc.publish(HUB_SITES_SUBJECT);
}

/** Who ingests which site, by PostgreSQL advisory locks on one session of this replica (see the header). */
export class SiteOwnership {
  private client: pg.Client | null = null;
  private readonly owned = new Set<string>();

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  /** The ownership session; a new one (owning nothing) after the old one was lost. */
  private async session(): Promise<pg.Client> {
    if (this.client) return this.client;
    this.owned.clear();
    const c = new pg.Client({ connectionString: this.url, keepAlive: true });
    const lost = () => {
      if (this.client === c) this.client = null;
    };
    c.on("error", (err) => {
      this.log.warn({ err: err.message }, "site ownership session lost");
      lost();
    });
    c.on("end", lost);
    await c.connect();
    await c.query("SELECT pg_advisory_lock_shared($1, 0)", [LOCK_CLASS]);
    this.client = c;
    return c;
  }

  /**
   * Claims this replica's share of `active` and gives back what is over it (or no longer active). Returns the
   * sites to ingest now and whether any was given back (the others should look again).
   */
  async plan(active: string[]): Promise<{ owned: Set<string>; released: boolean }> {
    let c: pg.Client;
    try {
      c = await this.session();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "no site ownership session; ingesting nothing");
      return { owned: new Set(), released: false };
    }
    const [{ n }] = (
      await c.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::bigint::oid
         AND objid = 0 AND objsubid = 2 AND mode = 'ShareLock' AND granted`,
        [LOCK_CLASS],
      )
    ).rows as [{ n: number }];
    const quota = Math.ceil(active.length / Math.max(1, n));
    const wanted = new Set(active);
    let released = false;
    const release = async (site: string) => {
      await c.query("SELECT pg_advisory_unlock($1, hashtext($2))", [LOCK_CLASS, `owner:${site}`]);
      this.owned.delete(site);
      released = true;
    };
    for (const site of [...this.owned]) if (!wanted.has(site)) await release(site);
    for (const site of [...this.owned].slice(quota)) await release(site);
    // From a random point, so replicas claiming at once mostly try different sites.
    const start = Math.floor(Math.random() * Math.max(1, active.length));
    const order = [...active.slice(start), ...active.slice(0, start)];
    for (const site of order) {
      if (this.owned.size >= quota) break;
      if (this.owned.has(site)) continue;
      const { rows } = await c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok", [
        LOCK_CLASS,
        `owner:${site}`,
      ]);
      if (rows[0]?.ok) this.owned.add(site);
    }
    return { owned: new Set(this.owned), released };
  }

  /** Ends the session: every site it owned is free for the other replicas. */
  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    this.owned.clear();
    await c?.end().catch(() => undefined);
  }
}

export interface SiteWatchDeps {
  db: HubDb;
  nc: NatsConnection;
  log: Logger;
  /** The sites this replica ingests now. */
  running: () => Iterable<string>;
  start: (site: string) => Promise<void>;
  stop: (site: string) => Promise<void>;
  /** How often the table is re-read without an announcement (default 5 s). */
  intervalMs?: number;
  /** Partitions the sites between replicas (PostgreSQL); without it this replica ingests every active site. */
  ownership?: SiteOwnership | null;
}

/**
 * Keeps this replica's ingests equal to the active sites: on each announcement and every `intervalMs`.
 * One pass at a time; a change announced during a pass starts another one after it.
 */
export function watchSites(deps: SiteWatchDeps): { stop: () => Promise<void>; sync: () => Promise<void> } {
  let pass: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  const reconcile = async () => {
    const statuses = await siteStatuses(deps.db);
    const active = [...statuses].filter(([, st]) => st === "active").map(([site]) => site);
    const plan = deps.ownership
      ? await deps.ownership.plan(active)
      : { owned: new Set(active), released: false };
    const running = new Set(deps.running());
    for (const site of running) if (!plan.owned.has(site)) await deps.stop(site);
    for (const site of plan.owned) {
      if (stopped) return;
      if (!running.has(site)) await deps.start(site);
    }
    if (plan.released) announceSites(deps.nc);
  };
  const sync = (): Promise<void> => {
    if (pass) {
      again = true;
      return pass;
    }
    pass = reconcile()
      .catch((err: Error) => deps.log.warn({ err: err.message }, "site list refresh failed; retrying"))
      .finally(() => {
        pass = null;
        if (again && !stopped) {
          again = false;
          void sync();
        }
      });
    return pass;
  };
  const sub: Subscription = deps.nc.subscribe(HUB_SITES_SUBJECT, { callback: () => void sync() });
  const timer = setInterval(() => void sync(), deps.intervalMs ?? 5000);
  timer.unref();
  return {
    sync,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      sub.unsubscribe();
      await pass;
      await deps.ownership?.close();
    },
  };
}
