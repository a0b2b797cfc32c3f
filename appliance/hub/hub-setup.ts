/**
 * The hub's start-up by role: its directories and secrets, the database, the nats-server side (leafnode TLS,
 * the hub's connection), the per-site sync loops, the blob store and the leafnode certificate renewal.
 * `startHub` calls them in this order.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import bcrypt from "bcryptjs";
import type { JetStreamClient, JetStreamManager, NatsConnection } from "nats";
import { createBlobStore } from "../../services/files/blob-store/index.js";
import type { Logger } from "../kit/index.js";
import type { BlobStore } from "../lib/blob-store.js";
import { freePort } from "../lib/ports.js";
import { watermarksOf } from "./apply.js";
import { type HubDb, type HubDbOptions, openHubDb } from "./db.js";
import { ensureEdgeStream, publishAck, SiteIngest } from "./ingest.js";
import { watchLink } from "./ingest-linkup.js";
import { externalLeafTls, type LeafTls, leafTls } from "./leaf-tls.js";
import { migrateHub } from "./migrations.js";
import {
  connectHub,
  externalHubNats,
  type HubNats,
  hubNatsConfig,
  jetStreamManager,
  siteUsersReloader,
  startHubNats,
  whileNoResponders,
} from "./nats.js";
import type { HubOptions } from "./options.js";
import { deliver, queueWinners } from "./outbound.js";
import { lockedReload } from "./replicas.js";
import { listSites, siteStatuses, touchSite } from "./sites.js";
import { BlobStaging, type StagingOptions, stagingOptions, stagingSweeper } from "./staging.js";

/** The address a box on this machine dials for a listener bound to `host` (IPv6 in brackets, for a URL). */
function dialHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "[::1]";
  return isIP(host) === 6 ? `[${host}]` : host;
}

function secret(file: string, make: () => string): string {
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const value = make();
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}

/** What every role of the hub shares: its options, logger, directories and secrets. */
export interface HubBase {
  opts: HubOptions;
  log: Logger;
  root: string;
  dirs: { secrets: string; nats: string; logs: string; run: string };
  stagingOpts: StagingOptions;
  adminToken: string;
  hubPass: string;
  hubUser: { user: string; passwordHash: string };
}

/** Creates the hub's directories and reads (or makes) its admin token and NATS password. */
export function prepareHub(opts: HubOptions): HubBase {
  const root = resolve(opts.dataDir);
  const stagingOpts = stagingOptions(opts.staging, {});
  const dirs = {
    secrets: join(root, "secrets"),
    nats: join(root, "nats"),
    logs: join(root, "logs"),
    run: join(root, "run"),
  };
  for (const d of [root, ...Object.values(dirs)]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const log = opts.log.child({ component: "hub" });
  const adminToken = secret(join(dirs.secrets, "hub-admin.token"), () =>
    randomBytes(32).toString("base64url"),
  );
  const hubPass = secret(join(dirs.secrets, "nats-hub.pass"), () => randomBytes(32).toString("base64url"));
  const hubUser = { user: "nexus-hub", passwordHash: bcrypt.hashSync(hubPass, 10) };
  return { opts, log, root, dirs, stagingOpts, adminToken, hubPass, hubUser };
}

/** Opens the database (PGlite in the data dir, or PostgreSQL by URL) and migrates it. */
export async function openDatabase(opts: HubOptions, root: string): Promise<HubDb> {
  const dbOpts: HubDbOptions = opts.databaseUrl
    ? { kind: "postgres", url: opts.databaseUrl }
    : { kind: "pglite", dir: join(root, "pglite") };
  const db = await openHubDb(dbOpts);
  await migrateHub(db);
  return db;
}

/** The NATS side of the hub: its server (own or external), leafnode TLS and its own connection. */
export interface HubLink {
  nats: HubNats;
  nc: NatsConnection;
  jsm: JetStreamManager;
  js: JetStreamClient;
  tls: LeafTls | null;
  leafnodeUrl: string;
  leafNames: string[];
  /** Has NATS reload the users of the active sites as they are then (one reload at a time). */
  reloadSiteUsers: () => Promise<void>;
  logFd: number;
}

/** Starts the hub's nats-server (or joins the external cluster), with leafnode TLS, and connects to it. */
export async function startNatsSide(base: HubBase, db: HubDb): Promise<HubLink> {
  const { opts, log, dirs, hubUser, hubPass } = base;
  const clientPort = await freePort();
  const leafHost = opts.leafHost ?? "0.0.0.0";
  const leafPort = opts.leafPort || (await freePort());
  const leafnodeUrl = opts.publicLeafUrl ?? `nats-leaf://${dialHost(leafHost)}:${leafPort}`;
  const siteUsers = async () =>
    (await listSites(db))
      .filter((s) => s.status === "active" && s.natsPasswordHash)
      .map((s) => ({ site: s.id, user: s.id, passwordHash: s.natsPasswordHash! }));
  const natsLog = join(dirs.logs, "nats.log");
  const logFd = openSync(natsLog, "a", 0o600);
  const external = opts.nats;
  const leafNames = [new URL(leafnodeUrl).hostname, "127.0.0.1", "localhost", ...(opts.leafTlsNames ?? [])];
  const tls = external
    ? externalLeafTls(opts.leafTls ?? "auto")
    : leafTls(opts.leafTls ?? "auto", dirs.secrets, leafNames);
  const nats: HubNats = external
    ? externalHubNats({
        ...external,
        hubUser: { user: external.user, passwordHash: bcrypt.hashSync(external.password, 10) },
      })
    : await startHubNats({
        bin: opts.natsServer ?? "nats-server",
        confFile: join(dirs.nats, "nats.conf"),
        pidFile: join(dirs.run, "nats.pid"),
        onStale: (pid) => log.warn({ pid }, "killed a nats-server left by an earlier hub"),
        config: (sites) =>
          hubNatsConfig({
            clientPort,
            leafHost,
            leafPort,
            storeDir: join(dirs.nats, "jetstream"),
            hubUser,
            sites,
            tls,
          }),
        sites: await siteUsers(),
        clientPort,
        user: hubUser.user,
        pass: hubPass,
        logFd,
        logFile: natsLog,
        reloadTimeoutMs: opts.natsReloadTimeoutMs,
      });
  // Serialised across hub replicas too: each reads the sites and writes the users under one database lock.
  const reloadSiteUsers = lockedReload(db, siteUsersReloader(nats, siteUsers));
  if (external) await reloadSiteUsers();
  const nc: NatsConnection = await connectHub(
    nats.url,
    external?.user ?? hubUser.user,
    external?.password ?? hubPass,
  );
  // A cluster answers JetStream only once its reload (ours, or another replica's at its start) is done.
  const jsm: JetStreamManager = await jetStreamManager(nc, external ? 30_000 : 0);
  const js = nc.jetstream();
  return { nats, nc, jsm, js, tls, leafnodeUrl, leafNames, reloadSiteUsers, logFd };
}

/** The per-site sync: one ingest loop per active site, delivery to the boxes and watermark republishing. */
export interface SiteSync {
  ingests: Map<string, SiteIngest>;
  /** Sends pending records to every box whose link is up. */
  deliverAll: () => void;
  /** Makes the site's stream and ingest consumer (at enrolment), without ingesting it here. */
  prepare: (site: string) => Promise<void>;
  startIngest: (site: string) => Promise<void>;
  stopIngest: (site: string) => Promise<void>;
  timers: NodeJS.Timeout[];
}

/** Starts an ingest loop per active site, the delivery timer and the watermark republisher. */
export async function startSiteSync(base: HubBase, db: HubDb, link: HubLink): Promise<SiteSync> {
  const { opts, log } = base;
  const { nc, jsm, js } = link;
  const ingests = new Map<string, SiteIngest>();
  const links = new Map<string, { stop(): Promise<void> }>();

  // Hub → box: pending records go out while a box's link is up (and wait, queued, while it is not).
  const delivering = new Set<string>();
  const deliverAll = () => {
    for (const site of ingests.keys()) {
      if (delivering.has(site)) continue;
      delivering.add(site);
      void deliver(db, js, site, log, { batch: ingests.get(site)?.speaksBatch })
        .catch((err) => log.warn({ err, site }, "delivery to the box failed"))
        .finally(() => delivering.delete(site));
    }
  };
  const deliveryTimer = setInterval(deliverAll, 2000);

  // Right after a reload a cluster's JetStream API has no responders for a moment (503): asked again.
  const prepare = (site: string) =>
    whileNoResponders(() => ensureEdgeStream(jsm, site, opts.streamReplicas ?? 1), opts.nats ? 15_000 : 0);
  const startIngest = async (site: string) => {
    await prepare(site);
    if (ingests.has(site)) return;
    const ingest = new SiteIngest(site, nc, js, db, log, {
      maxClockDriftMs: opts.maxClockDriftMs,
      onBatch: (s, _applied, batch) => {
        void touchSite(db, s, {}).catch(() => undefined);
        // Every active site, not only those this replica ingests: another replica's site may hold a loser.
        void activeSites(db)
          .then((active) => queueWinners(db, batch, active))
          .then((n) => (n > 0 ? deliverAll() : undefined))
          .catch((err) => log.warn({ err }, "queueing conflict winners failed"));
      },
    });
    ingests.set(site, ingest);
    ingest.start();
    // The backlog is sourced as soon as the box links, not at nats-server's next retry (ingest-linkup.ts).
    links.set(site, watchLink(nc, jsm, site, log));
  };
  // Which sites this replica ingests is up to watchSites (replicas.ts), which starts them.

  // Watermarks again every few seconds: a box that was offline when its batch was applied still hears.
  const republish = setInterval(() => {
    void watermarksOf(db)
      .then((ws) => {
        const active = new Set(ingests.keys());
        for (const w of ws) if (active.has(w.site)) publishAck(nc, w.site, w.service, w.seq);
      })
      .catch(() => undefined);
  }, 5000);
  const stopIngest = async (site: string) => {
    const ingest = ingests.get(site);
    const watch = links.get(site);
    ingests.delete(site);
    links.delete(site);
    await Promise.all([ingest?.stop(), watch?.stop()]);
  };
  return { ingests, deliverAll, prepare, startIngest, stopIngest, timers: [republish, deliveryTimer] };
}

/** The ids of the active sites (all replicas' sites, from the database). */
export async function activeSites(db: HubDb): Promise<Set<string>> {
  const statuses = await siteStatuses(db);
  return new Set([...statuses].filter(([, s]) => s === "active").map(([id]) => id));
}

/** The blob store and the staging area of partial uploads, with its sweeper (run once now). */
export async function startBlobs(base: HubBase, db: HubDb) {
  const { opts, root, log, stagingOpts } = base;
  const blobStore: BlobStore = createBlobStore(
    opts.blobs ?? { backend: "local", root: join(root, "blobs") },
    root,
  );
  await blobStore.init();
  // Abandoned partial uploads: swept now, then periodically, and right after a revocation.
  const staging = new BlobStaging(join(root, "blob-staging"));
  const sweeper = stagingSweeper(db, staging, log, stagingOpts);
  void sweeper.run();
  return { blobStore, staging, sweeper };
}

/** The hub's own leafnode certificate, renewed while the hub runs (not only at a start); nats-server reloads it. */
export function startLeafRenewal(base: HubBase, link: HubLink): NodeJS.Timeout | null {
  const { opts, log, dirs } = base;
  const { tls, leafNames, reloadSiteUsers } = link;
  const renewal =
    tls && !opts.nats && (opts.leafTls ?? "auto") === "auto"
      ? setInterval(() => {
          try {
            const before = readFileSync(tls.certFile, "utf8");
            leafTls("auto", dirs.secrets, leafNames);
            if (readFileSync(tls.certFile, "utf8") === before) return;
            void reloadSiteUsers()
              .then(() => log.info("leafnode certificate renewed"))
              // reload() rejects when nats-server does not confirm it: logged, not an unhandled rejection.
              .catch((err: Error) => log.error({ err: err.message }, "leafnode certificate reload failed"));
          } catch (err) {
            log.error({ err: (err as Error).message }, "leafnode certificate renewal failed");
          }
        }, opts.leafTlsCheckMs ?? 86_400_000)
      : null;
  renewal?.unref();
  return renewal;
}
