/**
 * `nexus hub`: the central side. One nats-server (JetStream domain `hub`, a leafnode listener for the boxes),
 * a database (PGlite in the data dir by default, PostgreSQL by URL), an HTTP API (enrolment, fleet registry)
 * and one ingest loop per enrolled site. The roles start in order here; they live in hub-setup.ts and
 * hub-http.ts.
 */
import { closeSync } from "node:fs";
import { type HubParts, hubRoutes, listenHttp } from "./hub-http.js";
import {
  openDatabase,
  prepareHub,
  startBlobs,
  startLeafRenewal,
  startNatsSide,
  startSiteSync,
} from "./hub-setup.js";
import type { HubOptions, RunningHub } from "./options.js";
import { announceSites, SiteOwnership, watchSites } from "./replicas.js";

export type { HubOptions, RunningHub } from "./options.js";

/** Starts the hub: database, nats-server, site sync, blobs, certificate renewal, then the HTTP API. */
export async function startHub(opts: HubOptions): Promise<RunningHub> {
  const base = prepareHub(opts);
  const { log } = base;
  const db = await openDatabase(opts, base.root);
  const link = await startNatsSide(base, db);
  const sync = await startSiteSync(base, db, link);
  // Other replicas enrol and revoke too: this one follows the sites table (replicas.ts).
  const watch = watchSites({
    db,
    nc: link.nc,
    log,
    running: () => sync.ingests.keys(),
    start: sync.startIngest,
    stop: sync.stopIngest,
    intervalMs: opts.siteRefreshMs,
    ownership: opts.databaseUrl ? new SiteOwnership(opts.databaseUrl, log) : null,
  });
  await watch.sync();
  // The others give back their share beyond the new count of replicas.
  announceSites(link.nc);
  const blobs = await startBlobs(base, db);
  const renewal = startLeafRenewal(base, link);
  const parts: HubParts = { base, db, link, sync, blobs };
  const { server, url } = await listenHttp(hubRoutes(parts), opts);
  log.info({ url, leafnodeUrl: link.leafnodeUrl }, "hub running");

  return {
    url,
    natsUrl: link.nats.url,
    leafnodeUrl: link.leafnodeUrl,
    leafTls: !link.tls ? "off" : (opts.leafTls ?? "auto") === "auto" && !opts.nats ? "own-ca" : "operator",
    adminToken: base.adminToken,
    db,
    stop: async () => {
      await watch.stop();
      await stopHub(parts, renewal, server);
    },
  };
}

/** Stops the timers, the HTTP server, the ingests and the sweeper, then NATS, the nats log and the database. */
async function stopHub(
  { db, link, sync, blobs }: HubParts,
  renewal: NodeJS.Timeout | null,
  server: Awaited<ReturnType<typeof listenHttp>>["server"],
): Promise<void> {
  if (renewal) clearInterval(renewal);
  for (const t of sync.timers) clearInterval(t);
  await new Promise<void>((r) => {
    server.close(() => r());
    // A fleet page polling over keep-alive would otherwise hold the server open.
    if ("closeAllConnections" in server) server.closeAllConnections();
  });
  await Promise.all([...sync.ingests.keys()].map((site) => sync.stopIngest(site)));
  await blobs.sweeper.stop();
  await link.nc.drain().catch(() => undefined);
  const child = link.nats.child;
  // It may be gone already (killed from outside): then there is no exit event left to wait for.
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
  closeSync(link.logFd);
  await db.close();
}
