/**
 * The hub distributing model packs to its boxes (packs.ts has the rules). Hub admins (the admin token) upload a
 * pack (`PUT /api/hub/models/upload`, the pack file as the body, streamed and size-capped: verified as a box
 * verifies it — manifest, every file's sha256, signature by a key the hub trusts — before it is kept), assign a
 * version to all sites or a list, unassign it, and see every pack with each site's state. Boxes (their site
 * credentials) see only their offers, download only a pack offered to them, and report installed / failed /
 * removed. A box's credentials on an admin route: 403 (known, but not a hub admin); no or bad credentials: 401.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import { type Context, Hono } from "hono";
import { z } from "zod";
import { ManifestError, MODEL_NAME } from "../../services/ai/manifest.js";
import { unpackPack } from "../../services/ai/pack.js";
import { checkPackSignature } from "../../services/ai/signing.js";
import { ApiError } from "../kit/errors.js";
import type { Logger } from "../kit/index.js";
import type { BlobStore } from "../lib/blob-store.js";
import { SITE_ID } from "../lib/names.js";
import { siteAuth } from "./blobs.js";
import { body, hubTrustedKeys, offeredBlob, receive } from "./bundle-routes.js";
import type { HubDb } from "./db.js";
import * as packs from "./packs.js";
import { listSites } from "./sites.js";

/** The upload path (streamed: api.ts lets its body through without the 64 KiB limit). */
export const PACK_UPLOAD = "/api/hub/models/upload";
/** A pack larger than this is refused while it arrives (413), unless the hub is started with another cap. */
export const MAX_PACK = 4 * 2 ** 30;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9.+_-]{0,31}$/;

export interface PackRouteDeps {
  db: HubDb;
  blobs: BlobStore;
  /** Where uploads are received and unpacked to be verified. */
  tmpDir: string;
  /** Public keys (PEM files or folders of them) trusted besides the hub's own release keys. */
  trustKeys?: string[];
  /** The largest pack accepted (default MAX_PACK). */
  maxBytes?: number;
  log: Logger;
  admin(header: string | undefined): void;
}

const assignBody = z
  .object({
    /** "all": every active site, now and enrolled later; or a list of active sites. */
    sites: z.union([z.literal("all"), z.array(z.string().regex(SITE_ID)).min(1).max(10_000)]),
    /** Unassigning it later removes it from the boxes (default: they keep it). */
    removeOnUnassign: z.boolean().default(false),
  })
  .strict();

const reportBody = z
  .object({
    name: z.string().regex(MODEL_NAME),
    version: z.string().regex(VERSION),
    outcome: z.enum(["installed", "failed", "removed"]),
    reason: z.string().max(2000).optional(),
  })
  .strict();

/** Unpacks and verifies an uploaded pack; its manifest and signer, or 422 with the reason. */
async function verifyUpload(file: string, dir: string, keys: ReturnType<typeof hubTrustedKeys>, max: number) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    const pack = await unpackPack(file, dir, { maxBytes: max });
    try {
      const { signer } = checkPackSignature(pack.manifestBytes, pack.signature, keys, false);
      return { manifest: pack.manifest, signer: signer as string };
    } finally {
      pack.discard();
    }
  } catch (err) {
    if (err instanceof ManifestError) throw new ApiError(422, `refused: ${err.message}`);
    throw err;
  }
}

/** Routes under /api/hub/models. */
export function packRoutes(deps: PackRouteDeps) {
  const { db } = deps;
  const auth = siteAuth(db);
  const max = deps.maxBytes ?? MAX_PACK;
  const app = new Hono();
  /** The admin token passes; a box's valid credentials are known but not enough (403); anything else 401. */
  const admin = async (c: Context) => {
    const header = c.req.header("authorization");
    if (header?.startsWith("Basic ")) {
      await auth(header);
      throw new ApiError(403, "a site is not a hub admin: the hub admin token is required");
    }
    deps.admin(header);
  };
  const packParams = (c: Context) => {
    const name = c.req.param("name") ?? "";
    const version = c.req.param("version") ?? "";
    if (!MODEL_NAME.test(name) || !VERSION.test(version))
      throw new ApiError(400, "malformed name or version");
    return { name, version };
  };

  app.put(PACK_UPLOAD, async (c) => {
    await admin(c);
    if (Number(c.req.header("content-length") ?? 0) > max)
      throw new ApiError(413, `a pack is at most ${max} bytes`);
    mkdirSync(deps.tmpDir, { recursive: true, mode: 0o700 });
    const id = randomUUID();
    const file = join(deps.tmpDir, `${id}.pack`);
    const dir = join(deps.tmpDir, id);
    try {
      const got = await receive((c.env as { incoming: IncomingMessage }).incoming, file, max, "a pack");
      if (got.size === 0) throw new ApiError(400, "empty body: send the pack file");
      const { manifest: m, signer } = await verifyUpload(file, dir, hubTrustedKeys(deps.trustKeys), max);
      const pack = { name: m.name, version: m.version, sha256: got.sha256, size: got.size, task: m.task };
      const row = { ...pack, license: m.license, signer };
      if (!VERSION.test(m.version))
        throw new ApiError(422, `refused: version ${m.version} is not a plain version`);
      await deps.blobs.put(got.sha256, { file }, got.size);
      const added = await packs.addPack(db, row);
      deps.log.info({ name: m.name, version: m.version, size: got.size }, "model pack uploaded and verified");
      return c.json(row, added ? 201 : 200);
    } finally {
      await rm(file, { force: true });
      await rm(dir, { recursive: true, force: true });
    }
  });

  app.get("/api/hub/models", async (c) => {
    await admin(c);
    const active = (await listSites(db)).filter((s) => s.status === "active").map((s) => s.id);
    return c.json({ packs: await packs.packView(db, active) });
  });

  app.post("/api/hub/models/:name/:version/assign", async (c) => {
    await admin(c);
    const { name, version } = packParams(c);
    const b = await body(c, assignBody);
    const r = await packs.assign(db, name, version, b.sites === "all" ? null : b.sites, b.removeOnUnassign);
    deps.log.info(r, "model pack assigned");
    return c.json(r, 201);
  });

  app.post("/api/hub/models/:name/:version/unassign", async (c) => {
    await admin(c);
    const { name, version } = packParams(c);
    const r = await packs.unassign(db, name, version);
    deps.log.info(r, "model pack unassigned");
    return c.json(r);
  });

  // The boxes: each sees only its own offers.
  app.get("/api/hub/models/offers", async (c) => {
    const site = await auth(c.req.header("authorization"));
    return c.json(await packs.offersFor(db, site));
  });

  app.get("/api/hub/models/:name/:version/file", async (c) => {
    const site = await auth(c.req.header("authorization"));
    const { name, version } = packParams(c);
    const pack = await packs.offeredPack(db, site, name, version);
    if (!pack) throw new ApiError(404, "no such pack offered to this site");
    return offeredBlob(c, deps.blobs, pack, "application/x-tar", "x-pack-sha256");
  });

  app.post("/api/hub/models/report", async (c) => {
    const site = await auth(c.req.header("authorization"));
    const r = await body(c, reportBody);
    await packs.recordPackReport(db, site, r);
    if (r.outcome === "failed") deps.log.warn({ site, ...r }, "a box did not install a model pack");
    return c.json({ site, ...r });
  });
  return app;
}
