/**
 * `nexus hub`: the central side. One nats-server (JetStream domain `hub`, a leafnode listener for the boxes),
 * a database (PGlite in the data dir by default, PostgreSQL by URL), an HTTP API (enrolment, fleet registry)
 * and one ingest loop per enrolled site.
 */
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { type AddressInfo, isIP } from "node:net";
import { join, resolve } from "node:path";
import { serve } from "@hono/node-server";
import bcrypt from "bcryptjs";
import type { JetStreamManager, NatsConnection } from "nats";
import { type BlobStoreConfig, createBlobStore } from "../../services/files/blob-store/index.js";
import { ApiError } from "../kit/errors.js";
import type { Logger } from "../kit/index.js";
import { freePort } from "../lib/ports.js";
import { hubApi } from "./api.js";
import { applyChangesIn, HUB_SITE, losersOf, recordsOf, watermarksOf } from "./apply.js";
import { blobRoutes } from "./blobs.js";
import { type HubDb, type HubDbOptions, openHubDb } from "./db.js";
import { edgeStream, ensureEdgeStream, publishAck, SiteIngest } from "./ingest.js";
import { enrolmentTls, externalLeafTls, type LeafTlsSetting, leafTls } from "./leaf-tls.js";
import { migrateHub } from "./migrations.js";
import { connectHub, externalHubNats, type HubNats, hubNatsConfig, startHubNats } from "./nats.js";
import { deliver, queueHubRecords, queueWinners, writeHubRecord } from "./outbound.js";
import {
  addSite,
  createEnrolToken,
  EnrolTokenError,
  listSites,
  redeemToken,
  reEnrolSite,
  releaseToken,
  revokeSite,
  touchSite,
} from "./sites.js";
import { BlobStaging, type StagingOptions, stagingOptions, stagingSweeper } from "./staging.js";

export interface HubOptions {
  dataDir: string;
  log: Logger;
  httpHost?: string;
  httpPort?: number;
  leafHost?: string;
  leafPort?: number;
  /** What boxes dial, e.g. nats-leaf://hub.example.org:7422 (default: leafHost:leafPort). */
  publicLeafUrl?: string;
  /** PostgreSQL connection string; PGlite in the data dir when absent. */
  databaseUrl?: string;
  natsServer?: string;
  /** Records stamped further ahead of the hub's clock wait (default 60 s). */
  maxClockDriftMs?: number;
  /**
   * An existing NATS cluster instead of the hub's own nats-server: its URLs, the hub's user there, the file
   * the hub writes the site users to (included by the cluster's config) and the command that reloads it.
   */
  nats?: { urls: string[]; user: string; password: string; authFile: string; reloadCommand?: string };
  /** Where blobs from the boxes go: local disk in the hub dir by default, or S3. */
  blobs?: BlobStoreConfig;
  /** Cleanup of abandoned partial uploads in `<hub dir>/blob-staging` (default: kept 7 days unwritten, swept hourly). */
  staging?: Partial<StagingOptions>;
  /**
   * TLS on the leafnode link (default "auto": the hub's own CA, pinned by boxes at enrolment; see leaf-tls.ts).
   * With an existing NATS cluster only `caFile` (what boxes pin) and "off" matter.
   */
  leafTls?: LeafTlsSetting;
  /** More names the leafnode certificate covers, besides the host in `publicLeafUrl`/`leafHost`. */
  leafTlsNames?: string[];
  /** How often the hub's own leafnode certificate is checked for renewal (default daily). */
  leafTlsCheckMs?: number;
  /** How long the hub's own nats-server may take to confirm a reload (default 30 s). */
  natsReloadTimeoutMs?: number;
}

export interface RunningHub {
  url: string;
  natsUrl: string;
  leafnodeUrl: string;
  /** How the leafnode link is protected: the hub's own CA, the operator's certificate, or not at all. */
  leafTls: "own-ca" | "operator" | "off";
  adminToken: string;
  db: HubDb;
  stop(): Promise<void>;
}

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

export async function startHub(opts: HubOptions): Promise<RunningHub> {
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

  const dbOpts: HubDbOptions = opts.databaseUrl
    ? { kind: "postgres", url: opts.databaseUrl }
    : { kind: "pglite", dir: join(root, "pglite") };
  const db = await openHubDb(dbOpts);
  await migrateHub(db);

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
  if (external) await nats.reload(await siteUsers());
  const nc: NatsConnection = await connectHub(
    nats.url,
    external?.user ?? hubUser.user,
    external?.password ?? hubPass,
  );
  const jsm: JetStreamManager = await nc.jetstreamManager();
  const js = nc.jetstream();
  const ingests = new Map<string, SiteIngest>();

  // Hub → box: pending records go out while a box's link is up (and wait, queued, while it is not).
  const delivering = new Set<string>();
  const deliverAll = () => {
    for (const site of ingests.keys()) {
      if (delivering.has(site)) continue;
      delivering.add(site);
      void deliver(db, js, site, log)
        .catch((err) => log.warn({ err, site }, "delivery to the box failed"))
        .finally(() => delivering.delete(site));
    }
  };
  const deliveryTimer = setInterval(deliverAll, 2000);

  const startIngest = async (site: string) => {
    await ensureEdgeStream(jsm, site);
    if (ingests.has(site)) return;
    const ingest = new SiteIngest(site, nc, js, db, log, {
      maxClockDriftMs: opts.maxClockDriftMs,
      onBatch: (s, _applied, batch) => {
        void touchSite(db, s, {}).catch(() => undefined);
        void queueWinners(db, batch, new Set(ingests.keys()))
          .then((n) => (n > 0 ? deliverAll() : undefined))
          .catch((err) => log.warn({ err }, "queueing conflict winners failed"));
      },
    });
    ingests.set(site, ingest);
    ingest.start();
  };
  for (const s of await listSites(db)) if (s.status === "active") await startIngest(s.id);

  // Watermarks again every few seconds: a box that was offline when its batch was applied still hears.
  const republish = setInterval(() => {
    void watermarksOf(db)
      .then((ws) => {
        const active = new Set(ingests.keys());
        for (const w of ws) if (active.has(w.site)) publishAck(nc, w.site, w.service, w.seq);
      })
      .catch(() => undefined);
  }, 5000);

  const blobStore = createBlobStore(opts.blobs ?? { backend: "local", root: join(root, "blobs") }, root);
  await blobStore.init();
  // Abandoned partial uploads: swept now, then periodically, and right after a revocation.
  const staging = new BlobStaging(join(root, "blob-staging"));
  const sweeper = stagingSweeper(db, staging, log, stagingOpts);
  void sweeper.run();
  // The leafnode certificate is renewed while the hub runs, not only at a start, and nats-server reloads it.
  const renewal =
    tls && !external && (opts.leafTls ?? "auto") === "auto"
      ? setInterval(() => {
          try {
            const before = readFileSync(tls.certFile, "utf8");
            leafTls("auto", dirs.secrets, leafNames);
            if (readFileSync(tls.certFile, "utf8") === before) return;
            void siteUsers()
              .then((users) => nats.reload(users))
              .then(() => log.info("leafnode certificate renewed"))
              // reload() rejects when nats-server does not confirm it: logged, not an unhandled rejection.
              .catch((err: Error) => log.error({ err: err.message }, "leafnode certificate reload failed"));
          } catch (err) {
            log.error({ err: (err as Error).message }, "leafnode certificate renewal failed");
          }
        }, opts.leafTlsCheckMs ?? 86_400_000)
      : null;
  renewal?.unref();
  const app = hubApi({
    adminToken,
    extra: blobRoutes(db, blobStore, staging),
    log,
    createToken: async (site, ttl) => {
      if (site === HUB_SITE) throw new ApiError(400, `"${HUB_SITE}" is the hub's own name`);
      const t = await createEnrolToken(db, { site, ttlMs: ttl * 1000 });
      return { token: t.token, site, expiresAt: t.expiresAt.toISOString() };
    },
    enrol: async (input) => {
      const password = randomBytes(32).toString("base64url");
      const hash = bcrypt.hashSync(password, 10);
      const { site, tokenId } = await db.tx(async (q) => {
        let redeemed: { id: string; site: string | null };
        try {
          redeemed = await redeemToken(q, input.token);
        } catch (err) {
          if (err instanceof EnrolTokenError)
            throw new ApiError(err.reason === "unknown" ? 401 : 410, err.message);
          throw err;
        }
        if (!redeemed.site) throw new ApiError(400, "this token names no site");
        const s = {
          id: redeemed.site,
          version: input.version,
          profile: input.profile,
          natsUser: redeemed.site,
        };
        const again = await reEnrolSite(q, { ...s, natsPasswordHash: hash });
        if (!again) await addSite(q, { ...s, natsPasswordHash: hash });
        return { site: redeemed.site, tokenId: redeemed.id };
      });
      try {
        await nats.reload(await siteUsers());
        await startIngest(site);
        await queueHubRecords(db, site);
      } catch (err) {
        // The box gets nothing, so the token is given back: the same enrolment can be tried again.
        await releaseToken(db, tokenId).catch(() => undefined);
        log.error({ err, site }, "enrolment not completed (token given back)");
        throw new ApiError(503, "the hub could not complete the enrolment now (NATS not ready); try again");
      }
      log.info({ site }, "site enrolled");
      return { site, leafnodeUrl, user: site, password, ...enrolmentTls(tls) };
    },
    sites: () => fleet(db, jsm, ingests),
    revoke: async (site) => {
      if (!(await revokeSite(db, site))) throw new ApiError(404, "no such site");
      await ingests.get(site)?.stop();
      ingests.delete(site);
      await nats.reload(await siteUsers());
      log.info({ site }, "site revoked");
      void sweeper.run();
    },
    writeData: async (input) => {
      const cur = await writeHubRecord(db, input, [...ingests.keys()], async (q, change) => {
        await applyChangesIn(q, [change]);
      });
      deliverAll();
      return cur;
    },
    records: async (collection, key) =>
      key === undefined
        ? { records: await recordsOf(db, collection) }
        : { losers: await losersOf(db, collection, key) },
  });
  const server = serve({
    fetch: app.fetch,
    port: opts.httpPort ?? 0,
    hostname: opts.httpHost ?? "127.0.0.1",
  });
  await new Promise<void>((r, j) => {
    server.once("listening", () => r());
    server.once("error", j);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${opts.httpHost ?? "127.0.0.1"}:${port}`;
  log.info({ url, leafnodeUrl }, "hub running");

  return {
    url,
    natsUrl: nats.url,
    leafnodeUrl,
    leafTls: !tls ? "off" : (opts.leafTls ?? "auto") === "auto" && !external ? "own-ca" : "operator",
    adminToken,
    db,
    async stop() {
      if (renewal) clearInterval(renewal);
      clearInterval(republish);
      clearInterval(deliveryTimer);
      await new Promise<void>((r) => {
        server.close(() => r());
        // A fleet page polling over keep-alive would otherwise hold the server open.
        if ("closeAllConnections" in server) server.closeAllConnections();
      });
      await Promise.all([...ingests.values()].map((i) => i.stop()));
      await sweeper.stop();
      await nc.drain().catch(() => undefined);
      const child = nats.child;
      // It may be gone already (killed from outside): then there is no exit event left to wait for.
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
      closeSync(logFd);
      await db.close();
    },
  };
}

/** The fleet registry: each site with its sync lag (messages not yet applied, age of the oldest). */
async function fleet(db: HubDb, jsm: JetStreamManager, ingests: Map<string, SiteIngest>) {
  const sites = await listSites(db);
  const counts = await db.query<{ id: string; received: string | number }>("SELECT id, received FROM sites");
  const received = new Map(counts.map((r) => [r.id, Number(r.received)]));
  return Promise.all(
    sites.map(async (s) => {
      let lagMessages: number | null = null;
      let lagSeconds: number | null = null;
      if (ingests.has(s.id)) {
        try {
          const info = await jsm.streams.info(edgeStream(s.id));
          const consumer = await jsm.consumers.info(edgeStream(s.id), "hub-ingest");
          const notSourced = info.sources?.[0]?.lag ?? 0;
          lagMessages = notSourced + consumer.num_pending + consumer.num_ack_pending;
          const next = consumer.ack_floor.stream_seq + 1;
          lagSeconds = 0;
          if (consumer.num_pending + consumer.num_ack_pending > 0) {
            const m = await jsm.streams.getMessage(edgeStream(s.id), { seq: next });
            lagSeconds = Math.max(0, (Date.now() - m.time.getTime()) / 1000);
          }
        } catch {
          // the stream is being created or the box has never connected
        }
      }
      return {
        ...s,
        natsPasswordHash: undefined,
        received: received.get(s.id) ?? 0,
        lagMessages,
        lagSeconds,
        clockAheadSeconds: Math.round((ingests.get(s.id)?.clockAheadMs ?? 0) / 1000),
      };
    }),
  );
}
