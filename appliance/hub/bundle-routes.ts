/**
 * The hub offering bundles to its boxes (bundles.ts has the rules). Hub admins (the admin token) upload a
 * signed bundle (`PUT /api/hub/bundles/upload`, the tar.gz as the body: unpacked in a staging folder and
 * verified — signature by a key the hub trusts, every checksum, validity — before it is kept), approve it for
 * stages of sites, and see releases, rollouts and reports. Boxes (their site credentials, as for blobs) see
 * only the offer made to them, download only that file, and report how their upgrade ended.
 */
import { execFile } from "node:child_process";
import { createHash, createPublicKey, type KeyObject, randomUUID } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { type Context, Hono } from "hono";
import { z } from "zod";
import { ApiError } from "../kit/errors.js";
import type { Logger } from "../kit/index.js";
import type { BlobStore } from "../lib/blob-store.js";
import { SITE_ID } from "../lib/names.js";
import { packageRoot } from "../paths.js";
import { MANIFEST } from "../upgrade/manifest.js";
import { loadTrustedKeys, verifyBundle } from "../upgrade/signature.js";
import { siteAuth } from "./blobs.js";
import * as bundles from "./bundles.js";
import type { HubDb } from "./db.js";
import { listSites } from "./sites.js";

/** The upload path (streamed: api.ts lets its body through without the 64 KiB limit). */
export const BUNDLE_UPLOAD = "/api/hub/bundles/upload";
/** A bundle larger than this is refused while it arrives (413). */
export const MAX_BUNDLE = 4 * 2 ** 30;
const VERSION = /^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/;

export interface BundleRouteDeps {
  db: HubDb;
  blobs: BlobStore;
  /** Where uploads are received and unpacked to be verified. */
  tmpDir: string;
  /** Public keys (PEM files or folders of them) trusted besides the hub's own release keys. */
  trustKeys?: string[];
  log: Logger;
  admin(header: string | undefined): void;
}

const rolloutBody = z
  .object({
    stages: z
      .array(
        z.union([
          z.object({ sites: z.array(z.string().regex(SITE_ID)).min(1).max(10_000) }).strict(),
          z.object({ percent: z.number().int().min(1).max(100) }).strict(),
        ]),
      )
      .min(1)
      .max(20),
  })
  .strict();

const reportBody = z
  .object({
    version: z.string().regex(VERSION),
    outcome: z.enum(["committed", "rolled-back", "refused", "failed"]),
    reason: z.string().max(2000).optional(),
    running: z.string().regex(VERSION).optional(),
  })
  .strict();

/** The keys a bundle must be signed by: those this hub's own release ships, and the operator's. */
export function hubTrustedKeys(extra: string[] = []): KeyObject[] {
  const root = packageRoot();
  const own = [join(root, "trusted-keys"), join(root, "installer/trusted-keys")].find((d) => existsSync(d));
  const keys = own ? loadTrustedKeys(own) : [];
  for (const p of extra) {
    if (statSync(p).isDirectory()) keys.push(...loadTrustedKeys(p));
    else keys.push(createPublicKey(readFileSync(p, "utf8")));
  }
  return keys;
}

/** The JSON body parsed by `schema`; 400 with the issues otherwise. */
export async function body<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const parsed = schema.safeParse(await c.req.json().catch(() => undefined));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
    throw new ApiError(400, "invalid request", { issues });
  }
  return parsed.data;
}

/** Writes the request body to `file`, hashing it; 413 past `max` bytes (default MAX_BUNDLE). */
/** A blob the hub offers a site (a bundle, a model pack), streamed with its size and sha256 in the headers. */
export async function offeredBlob(
  c: Context,
  blobs: BlobStore,
  blob: { sha256: string; size: number },
  type: string,
  shaHeader: string,
): Promise<Response> {
  const stream = (await blobs.get(blob.sha256)) as Readable;
  return c.body(Readable.toWeb(stream) as ReadableStream, 200, {
    "content-type": type,
    "content-length": String(blob.size),
    [shaHeader]: blob.sha256,
  });
}

export async function receive(incoming: IncomingMessage, file: string, max = MAX_BUNDLE, what = "a bundle") {
  const hash = createHash("sha256");
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > max) return done(new ApiError(413, `${what} is at most ${max} bytes`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(incoming, count, createWriteStream(file, { mode: 0o600 }));
  return { sha256: hash.digest("hex"), size };
}

/** Unpacks and verifies an uploaded tar.gz; the release it holds, or 422 with the reason. */
async function verifyUpload(file: string, dir: string, keys: KeyObject[]) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // GNU tar drops leading "/" and refuses members with "..": nothing lands outside `dir`.
  await promisify(execFile)("tar", ["-xzf", file, "-C", dir, "--no-same-owner"]).catch(() => {
    throw new ApiError(422, "not a tar.gz bundle");
  });
  const tops = readdirSync(dir);
  const top = tops.length === 1 ? join(dir, tops[0] as string) : dir;
  if (!existsSync(join(top, MANIFEST))) throw new ApiError(422, "not a nexus bundle (no manifest)");
  const v = await verifyBundle(top, keys);
  if (!v.ok) throw new ApiError(422, `refused: ${v.reason}`);
  return v.manifest;
}

/** Routes under /api/hub/bundles. */
export function bundleRoutes(deps: BundleRouteDeps) {
  const { db } = deps;
  const auth = siteAuth(db);
  const app = new Hono();
  const versionParam = (c: Context) => {
    const v = c.req.param("version") ?? "";
    if (!VERSION.test(v)) throw new ApiError(400, "malformed version");
    return v;
  };

  app.put(BUNDLE_UPLOAD, async (c) => {
    deps.admin(c.req.header("authorization"));
    mkdirSync(deps.tmpDir, { recursive: true, mode: 0o700 });
    const id = randomUUID();
    const file = join(deps.tmpDir, `${id}.tar.gz`);
    const dir = join(deps.tmpDir, id);
    try {
      const got = await receive((c.env as { incoming: IncomingMessage }).incoming, file);
      const m = await verifyUpload(file, dir, hubTrustedKeys(deps.trustKeys));
      const release = { version: m.version, sha256: got.sha256, size: got.size, buildTime: m.buildTime };
      await deps.blobs.put(got.sha256, { file }, got.size);
      const added = await bundles.addRelease(db, release);
      deps.log.info({ version: m.version, size: got.size }, "bundle uploaded and verified");
      return c.json(release, added ? 201 : 200);
    } finally {
      await rm(file, { force: true });
      await rm(dir, { recursive: true, force: true });
    }
  });

  app.get("/api/hub/bundles", async (c) => {
    deps.admin(c.req.header("authorization"));
    const sites = (await listSites(db)).map((s) => ({
      id: s.id,
      status: s.status,
      version: s.version,
      lastSeen: s.lastSeen,
    }));
    return c.json({ releases: await bundles.rolloutView(db), sites });
  });

  app.post("/api/hub/bundles/:version/rollout", async (c) => {
    deps.admin(c.req.header("authorization"));
    const version = versionParam(c);
    const { stages } = await body(c, rolloutBody);
    const r = await bundles.approve(db, version, stages);
    deps.log.info({ version, stages: r.stages }, "bundle approved for a staged rollout");
    return c.json(r, 201);
  });

  // The boxes: each sees only what is offered to it.
  app.get("/api/hub/bundles/offer", async (c) => {
    const site = await auth(c.req.header("authorization"));
    return c.json({ offer: await bundles.offerFor(db, site) });
  });

  app.get("/api/hub/bundles/:version/file", async (c) => {
    const site = await auth(c.req.header("authorization"));
    const version = versionParam(c);
    const release = (await bundles.offeredTo(db, site, version))
      ? await bundles.getRelease(db, version)
      : null;
    if (!release) throw new ApiError(404, "no such bundle offered to this site");
    return offeredBlob(c, deps.blobs, release, "application/gzip", "x-bundle-sha256");
  });

  app.post("/api/hub/bundles/report", async (c) => {
    const site = await auth(c.req.header("authorization"));
    const r = await body(c, reportBody);
    const rollout = await bundles.recordReport(db, site, r);
    if (r.outcome !== "committed") deps.log.warn({ site, ...r, rollout }, "a box did not take the bundle");
    return c.json({ site, ...r, rollout });
  });
  return app;
}
