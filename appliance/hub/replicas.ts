/**
 * Several hub replicas on one PostgreSQL and one NATS cluster. Nothing another replica needs lives in a
 * replica's memory:
 * - Ingest: every replica pulls from the same durable consumer of each site's stream, so JetStream hands each
 *   message to one replica at a time (a work queue per site); a message a killed replica had fetched comes back
 *   after the consumer's ack wait. Each batch applies in a transaction holding a per-site advisory lock (one
 *   replica applies a site at a time) and the inbox skips a message id seen before: a redelivery changes nothing.
 * - The set of sites each replica ingests is the `sites` table: a replica that enrols or revokes announces it on
 *   `HUB_SITES_SUBJECT`, and every replica also re-reads the table every few seconds (an announcement lost
 *   while its connection was down is caught up).
 * - NATS users: a reload (enrolment, revocation, start) reads the active sites and writes the users file under
 *   a PostgreSQL advisory lock, so two replicas enrolling at once cannot write an older list after a newer one.
 */
import type { NatsConnection, Subscription } from "nats";
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

/**
 * Applies one site's batch: one transaction, holding the site's lock on PostgreSQL, so replicas pulling the
 * same consumer apply a site one batch at a time; the inbox makes a batch seen before a no-op.
 */
export function applySiteBatch(db: HubDb, site: string, batch: IncomingChange[]): Promise<ApplyResult> {
  if (db.kind !== "postgres") return applyChanges(db, batch);
  return db.tx(async (q) => {
    await lockSite(q, site);
    return applyChangesIn(q, batch);
  });
}

/** Tells every replica that the sites table changed (an enrolment or a revocation). */
export function announceSites(nc: NatsConnection): void {
  nc.publish(HUB_SITES_SUBJECT);
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
    const running = new Set(deps.running());
    for (const site of running) if (statuses.get(site) !== "active") await deps.stop(site);
    for (const [site, status] of statuses) {
      if (stopped) return;
      if (status === "active" && !running.has(site)) await deps.start(site);
    }
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
    },
  };
}
