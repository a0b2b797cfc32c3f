/**
 * The hub as a backup destination for its boxes (the box side is appliance/backup/destination-hub.ts):
 * `/api/hub/backups/objects/<key>` PUT / GET / HEAD / DELETE and `GET /api/hub/backups/objects?prefix=`, with
 * the site's credentials (HTTP Basic, as for blob uploads). Each site has its own key space: another site's
 * key is simply not there (404), and no key names a path (content goes to the blob store by sha256). A PUT is
 * written to a temp file while hashed, then handed to the store and recorded in one transaction: a reader sees
 * the old object or the new one, never a part. When a manifest arrives the hub keeps that site's newest
 * `keep` backups and drops the rest. The hub admin sees what it holds per site.
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Hono } from "hono";
import { ApiError } from "../kit/errors.js";
import type { Logger } from "../kit/index.js";
import type { BlobStore } from "../lib/blob-store.js";
import { SITE_ID } from "../lib/names.js";
import { siteAuth } from "./blobs.js";
import type { HubDb } from "./db.js";
import * as store from "./site-backups.js";

const BASE = "/api/hub/backups/objects";
/** One object at most (a backup part); more is refused with 413. */
const MAX_OBJECT = 2 ** 40;

export interface HubBackupDeps {
  db: HubDb;
  blobs: BlobStore;
  /** Where PUT bodies are written before they go to the store. */
  tmpDir: string;
  /** Complete backups kept per site. */
  keep: number;
  /** Bytes of backup objects one site may hold (undefined: no limit); a PUT past it is refused with 507. */
  quotaBytes?: number;
  log: Logger;
  /** Checks the hub admin token (throws 401). */
  admin(header: string | undefined): void;
}

/** The key of a request under BASE, or 400. */
function keyOf(path: string): string {
  const key = path.slice(BASE.length + 1);
  if (key.length > 512 || !store.BACKUP_KEY.test(key)) throw new ApiError(400, "malformed backup key");
  return key;
}

/** Writes the request body to a temp file, hashing it; ENOSPC becomes 507. */
async function receive(incoming: IncomingMessage, tmpDir: string) {
  const file = join(tmpDir, randomUUID());
  const hash = createHash("sha256");
  const fh = await open(file, "wx", 0o600);
  let size = 0;
  try {
    for await (const chunk of incoming.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_OBJECT) throw new ApiError(413, "backup object too large");
      hash.update(chunk);
      await fh.write(chunk);
    }
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(file, { force: true });
    if ((err as NodeJS.ErrnoException).code === "ENOSPC") throw new ApiError(507, "the hub's disk is full");
    // The box went away mid-upload (its source failed, it was killed): nothing was stored, nothing to log.
    if (incoming.destroyed || (err as NodeJS.ErrnoException).code === "ECONNRESET") {
      throw new ApiError(400, "the upload was cut off; nothing was stored");
    }
    throw err;
  }
  await fh.close();
  return { file, sha256: hash.digest("hex"), size };
}

/** Routes the boxes store their backups through, and the admin's view of them. */
export function backupRoutes(deps: HubBackupDeps) {
  const auth = siteAuth(deps.db);
  mkdirSync(deps.tmpDir, { recursive: true, mode: 0o700 });
  const app = new Hono();
  /** Deletes content nothing points at any more. */
  const collect = async (shas: string[]) => {
    for (const sha of await store.unreferenced(deps.db, shas)) await deps.blobs.delete(sha);
  };

  app.get(BASE, async (c) => {
    const site = await auth(c.req.header("authorization"));
    const prefix = c.req.query("prefix") ?? "";
    if (prefix.length > 512 || !store.BACKUP_PREFIX.test(prefix)) throw new ApiError(400, "malformed prefix");
    return c.json({ keys: await store.listObjects(deps.db, site, prefix) });
  });

  app.put(`${BASE}/*`, async (c) => {
    const site = await auth(c.req.header("authorization"));
    const key = keyOf(c.req.path);
    const got = await receive((c.env as { incoming: IncomingMessage }).incoming, deps.tmpDir);
    if (deps.quotaBytes !== undefined) {
      const used = await store.siteBytes(deps.db, site, key);
      if (used + got.size > deps.quotaBytes) {
        await rm(got.file, { force: true });
        throw new ApiError(507, "the hub's backup store for this site is full (quota)", {
          quotaBytes: deps.quotaBytes,
          usedBytes: used,
        });
      }
    }
    try {
      await deps.blobs.put(got.sha256, { file: got.file }, got.size);
    } catch (err) {
      await rm(got.file, { force: true });
      if ((err as NodeJS.ErrnoException).code === "ENOSPC") throw new ApiError(507, "the hub's disk is full");
      throw err;
    }
    const replaced = await store.recordObject(deps.db, site, key, got);
    const id = store.manifestOf(key);
    if (id) {
      const { removed, freed } = await store.keepNewest(deps.db, site, deps.keep);
      if (removed.length) deps.log.info({ site, removed, keep: deps.keep }, "older backups dropped (keep-N)");
      replaced.push(...freed);
    }
    await collect(replaced);
    return c.json({ key, size: got.size, sha256: got.sha256 }, 201);
  });

  app.get(`${BASE}/*`, async (c) => {
    const site = await auth(c.req.header("authorization"));
    const key = keyOf(c.req.path);
    const obj = await store.objectOf(deps.db, site, key);
    if (!obj) throw new ApiError(404, "no such backup object");
    c.header("content-length", String(obj.size));
    if (c.req.method === "HEAD") return c.body(null, 200);
    const body = (await deps.blobs.get(obj.sha256)) as Readable;
    return c.body(Readable.toWeb(body) as ReadableStream, 200, {
      "content-type": "application/octet-stream",
    });
  });

  app.delete(`${BASE}/*`, async (c) => {
    const site = await auth(c.req.header("authorization"));
    const key = keyOf(c.req.path);
    await collect(await store.removeObject(deps.db, site, key));
    return c.body(null, 204);
  });

  // What the hub has applied of this site's changes: a box restored from a backup starts its outbox's seq past
  // it (appliance/backup/sync-epoch.ts), so no new change reuses a seq the hub already acknowledged.
  app.get("/api/hub/backups/sync-position", async (c) => {
    const site = await auth(c.req.header("authorization"));
    return c.json({ site, watermarks: await store.siteWatermarks(deps.db, site) });
  });

  app.get("/api/hub/sites/:site/backups", async (c) => {
    deps.admin(c.req.header("authorization"));
    const site = c.req.param("site");
    if (!SITE_ID.test(site)) throw new ApiError(400, "malformed site id");
    return c.json({ site, keep: deps.keep, backups: await store.siteBackups(deps.db, site) });
  });
  return app;
}
