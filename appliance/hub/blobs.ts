/**
 * The hub's blob store and the boxes' uploads into it. Content is addressed by sha256, as on the boxes
 * (same blob-store code: local disk by default, S3 in production). A box asks whether the hub has a blob
 * (`HEAD`), and sends what is missing resumably: `PUT` with `Upload-Offset` appends to a staging file kept
 * per site and blob, and the last byte verifies the sha256 and moves it into the store (or drops the file on
 * a mismatch); staging.ts sweeps away what abandoned uploads leave. Boxes authenticate with their site
 * credentials (HTTP Basic, checked against the bcrypt hash off the critical path — bcryptjs's async compare
 * yields between rounds, so wrong passwords cannot stall other requests — and cached briefly).
 */
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { pipeline } from "node:stream/promises";
import bcrypt from "bcryptjs";
import { type Context, Hono } from "hono";
import { ApiError } from "../kit/errors.js";
import { type BlobStore, isSha256 } from "../lib/blob-store.js";
import type { HubDb } from "./db.js";
import { getSite } from "./sites.js";
import type { BlobStaging } from "./staging.js";

const MAX_BLOB = 2 ** 40;
const CACHE_MS = 5 * 60_000;

/** Checks `Authorization: Basic site:password` against the site's hash; returns the site id. */
export function siteAuth(db: HubDb) {
  // Keyed by the credentials, and good only while the site's hash is the one they were checked against: a site
  // enrolled again (through any hub replica) has a new password, and the old one stops working at once.
  const verified = new Map<string, { site: string; hash: string; until: number }>();
  return async (header: string | undefined): Promise<string> => {
    const m = /^Basic ([A-Za-z0-9+/=]{4,400})$/.exec(header ?? "");
    if (!m) throw new ApiError(401, "site credentials required (HTTP Basic)");
    const hit = verified.get(m[1]!);
    if (hit && hit.until > Date.now()) {
      const live = await getSite(db, hit.site);
      if (live?.status === "active" && live.natsPasswordHash === hit.hash) return hit.site;
    }
    const [site = "", password = ""] = Buffer.from(m[1]!, "base64").toString("utf8").split(":");
    const s = site ? await getSite(db, site) : null;
    if (
      s?.status !== "active" ||
      !s.natsPasswordHash ||
      !(await bcrypt.compare(password, s.natsPasswordHash))
    ) {
      throw new ApiError(401, "unknown or revoked site");
    }
    verified.set(m[1]!, { site, hash: s.natsPasswordHash, until: Date.now() + CACHE_MS });
    return site;
  };
}

const shaParam = (c: Context) => {
  const sha = c.req.param("sha") ?? "";
  if (!isSha256(sha)) throw new ApiError(400, "a blob is named by its sha256 (64 lower-case hex digits)");
  return sha;
};

/** Routes under /api/hub/blobs for the boxes. */
export function blobRoutes(db: HubDb, store: BlobStore, staging: BlobStaging) {
  const auth = siteAuth(db);
  const offsetOf = (file: string) => {
    try {
      return statSync(file).size;
    } catch {
      return 0;
    }
  };
  const app = new Hono();

  // Whether the hub has it (200 + size), and how much of a partial upload it holds (Upload-Offset).
  app.get("/api/hub/blobs/:sha", async (c) => {
    const site = await auth(c.req.header("authorization"));
    const sha = shaParam(c);
    const stat = await store.stat(sha);
    c.header("upload-offset", String(stat ? stat.size : offsetOf(staging.path(site, sha))));
    if (!stat) return c.json({ status: 404, message: "the hub does not have this blob", data: null }, 404);
    return c.json({ sha256: sha, size: stat.size });
  });

  // The content itself, for a box that needs a blob the hub holds (form attachments the hub admin uploaded).
  app.get("/api/hub/blobs/:sha/content", async (c) => {
    await auth(c.req.header("authorization"));
    const sha = shaParam(c);
    const stat = await store.stat(sha);
    if (!stat) return c.json({ status: 404, message: "the hub does not have this blob", data: null }, 404);
    const body = await store.get(sha);
    return new Response(body as unknown as ReadableStream, {
      headers: { "content-type": "application/octet-stream", "content-length": String(stat.size) },
    });
  });

  app.put("/api/hub/blobs/:sha", async (c) => {
    const site = await auth(c.req.header("authorization"));
    const sha = shaParam(c);
    const size = Number(c.req.header("x-blob-size"));
    const offset = Number(c.req.header("upload-offset") ?? 0);
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_BLOB)
      throw new ApiError(400, "x-blob-size required");
    if (await store.stat(sha)) return c.json({ sha256: sha, size, stored: true }, 200);
    const file = staging.path(site, sha);
    // Busy from here until it is stored or dropped: the staging sweep leaves it alone meanwhile.
    return staging.hold(file, async () => {
      const have = offsetOf(file);
      if (!Number.isSafeInteger(offset) || offset !== have) {
        c.header("upload-offset", String(have));
        throw new ApiError(409, "Upload-Offset does not match what the hub holds", { offset: have });
      }
      const incoming = (c.env as { incoming: IncomingMessage }).incoming;
      const fh = await open(file, offset === 0 ? "w" : "r+", 0o600);
      let written = offset;
      try {
        for await (const chunk of incoming.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
          if (written + chunk.length > size) throw new ApiError(413, "more bytes than x-blob-size");
          await fh.write(chunk, 0, chunk.length, written);
          written += chunk.length;
        }
      } catch (err) {
        if (err instanceof ApiError) throw err;
        // The box went away: keep what arrived; it continues from the offset.
      } finally {
        await fh.sync();
        await fh.close();
      }
      c.header("upload-offset", String(written));
      if (written < size) return c.json({ sha256: sha, offset: written, stored: false }, 200);
      const hash = createHash("sha256");
      await pipeline(createReadStream(file), hash);
      if (hash.digest("hex") !== sha) {
        await rm(file, { force: true });
        throw new ApiError(422, "the content does not match its sha256; the upload was dropped");
      }
      await store.put(sha, { file }, size);
      return c.json({ sha256: sha, size, stored: true }, 201);
    });
  });
  return app;
}
