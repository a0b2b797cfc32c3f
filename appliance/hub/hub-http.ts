/** The hub's HTTP side: its API (enrolment, fleet registry, hub data, blobs) and the listening server. */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import bcrypt from "bcryptjs";
import { Hono } from "hono";
import type { JetStreamManager } from "nats";
import { ApiError } from "../kit/errors.js";
import type { BlobStore } from "../lib/blob-store.js";
import { adminCheck, hubApi } from "./api.js";
import { applyChangesIn, HUB_SITE, losersOf, recordsOf } from "./apply.js";
import { backupRoutes } from "./backup-routes.js";
import { blobRoutes } from "./blobs.js";
import { bundleRoutes } from "./bundle-routes.js";
import type { HubDb } from "./db.js";
import { formAttachmentRoutes } from "./form-attachments.js";
import { formSubmissionRoutes } from "./form-submissions.js";
import { activeSites, type HubBase, type HubLink, type SiteSync } from "./hub-setup.js";
import { edgeStream, type SiteIngest } from "./ingest.js";
import { enrolmentTls } from "./leaf-tls.js";
import { DEFAULT_BACKUP_KEEP, type HubOptions } from "./options.js";
import { queueHubRecords, writeHubRecord } from "./outbound.js";
import { packRoutes } from "./pack-routes.js";
import { announceSites } from "./replicas.js";
import {
  addSite,
  createEnrolToken,
  EnrolTokenError,
  listSites,
  redeemToken,
  reEnrolSite,
  releaseToken,
  revokeSite,
} from "./sites.js";
import type { BlobStaging, stagingSweeper } from "./staging.js";

/** What the API acts on: the database, the NATS side, the site sync and the blobs. */
export interface HubParts {
  base: HubBase;
  db: HubDb;
  link: HubLink;
  sync: SiteSync;
  blobs: { blobStore: BlobStore; staging: BlobStaging; sweeper: ReturnType<typeof stagingSweeper> };
}

/** The hub's API app, wired to the hub's parts. */
export function hubRoutes(parts: HubParts) {
  const { base, db, link, sync, blobs } = parts;
  const { log } = base;
  return hubApi({
    adminToken: base.adminToken,
    extra: new Hono()
      .route("/", blobRoutes(db, blobs.blobStore, blobs.staging))
      .route("/", formSubmissionRoutes(db, adminCheck(base.adminToken)))
      .route("/", formAttachmentRoutes(blobs.blobStore, adminCheck(base.adminToken)))
      .route(
        "/",
        backupRoutes({
          db,
          blobs: blobs.blobStore,
          tmpDir: join(base.root, "backup-staging"),
          keep: base.opts.backupKeep ?? DEFAULT_BACKUP_KEEP,
          quotaBytes: base.opts.backupQuotaBytes,
          log,
          admin: adminCheck(base.adminToken),
        }),
      )
      .route(
        "/",
        bundleRoutes({
          db,
          blobs: blobs.blobStore,
          tmpDir: join(base.root, "bundle-staging"),
          trustKeys: base.opts.bundleTrustKeys,
          log,
          admin: adminCheck(base.adminToken),
        }),
      )
      .route(
        "/",
        packRoutes({
          db,
          blobs: blobs.blobStore,
          tmpDir: join(base.root, "pack-staging"),
          trustKeys: [...(base.opts.bundleTrustKeys ?? []), ...(base.opts.packTrustKeys ?? [])],
          maxBytes: base.opts.packMaxBytes,
          log,
          admin: adminCheck(base.adminToken),
        }),
      ),
    log,
    createToken: async (site, ttl) => {
      if (site === HUB_SITE) throw new ApiError(400, `"${HUB_SITE}" is the hub's own name`);
      const t = await createEnrolToken(db, { site, ttlMs: ttl * 1000 });
      return { token: t.token, site, expiresAt: t.expiresAt.toISOString() };
    },
    enrol: (input) => enrolSite(parts, input),
    sites: () => fleet(db, link.jsm, sync.ingests),
    revoke: async (site) => {
      if (!(await revokeSite(db, site))) throw new ApiError(404, "no such site");
      await sync.stopIngest(site);
      await link.reloadSiteUsers();
      announceSites(link.nc);
      log.info({ site }, "site revoked");
      void blobs.sweeper.run();
    },
    writeData: async (input) => {
      const active = [...(await activeSites(db))];
      const cur = await writeHubRecord(db, input, active, async (q, change) => {
        await applyChangesIn(q, [change]);
      });
      sync.deliverAll();
      return cur;
    },
    records: async (collection, key) =>
      key === undefined
        ? { records: await recordsOf(db, collection) }
        : { losers: await losersOf(db, collection, key) },
  });
}

type EnrolInput = Parameters<Parameters<typeof hubApi>[0]["enrol"]>[0];

/** Redeems an enrolment token: the site is added (or re-enrolled), NATS reloaded and its ingest started. */
async function enrolSite({ base, db, link, sync }: HubParts, input: EnrolInput) {
  const { log } = base;
  const password = randomBytes(32).toString("base64url");
  const hash = await bcrypt.hash(password, 10);
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
    await link.reloadSiteUsers();
    // The stream exists before the box is told to link; whichever replica owns the site ingests it.
    await sync.prepare(site);
    await queueHubRecords(db, site);
    announceSites(link.nc);
  } catch (err) {
    // The box gets nothing, so the token is given back: the same enrolment can be tried again.
    await releaseToken(db, tokenId).catch(() => undefined);
    log.error({ err, site }, "enrolment not completed (token given back)");
    throw new ApiError(503, "the hub could not complete the enrolment now (NATS not ready); try again");
  }
  log.info({ site }, "site enrolled");
  return { site, leafnodeUrl: link.leafnodeUrl, user: site, password, ...enrolmentTls(link.tls) };
}

/** Serves `app` on the configured host and port; resolves once it listens. */
export async function listenHttp(app: ReturnType<typeof hubRoutes>, opts: HubOptions) {
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
  return { server, url };
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
      if (s.status === "active") {
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
