/**
 * The hub's HTTP API. Enrolment is public (the one-time token is the credential); everything else needs the
 * hub admin token (`<hub data>/secrets/hub-admin.token`). Errors use the appliance's `{ status, message, data }`.
 */
import { timingSafeEqual } from "node:crypto";
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import { bearerToken } from "../kit/credentials.js";
import { ApiError, errorBody, renderError } from "../kit/errors.js";
import type { Logger } from "../kit/index.js";
import { SERVICE_NAME, SITE_ID } from "../lib/names.js";
import { COLLECTION_NAME } from "../sync/change.js";
import { fleetPage } from "./fleet-files.js";

/** Seconds a box waits before trying an enrolment again that the hub could not complete (503). */
export const ENROL_RETRY_AFTER_S = 3;

export const tokenBody = z
  .object({
    site: z.string().regex(SITE_ID, "site: lower-case letters, digits and '-', at most 63"),
    ttlSeconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400)
      .default(86_400),
  })
  .strict();

export const enrolBody = z
  .object({
    token: z.string().min(20).max(200),
    version: z.string().max(64).optional(),
    profile: z.string().max(64).optional(),
  })
  .strict();

export interface HubApiDeps {
  adminToken: string;
  /** Routes with their own authentication (the boxes' blob uploads). */
  extra?: Hono;
  log: Logger;
  createToken(site: string, ttlSeconds: number): Promise<{ token: string; expiresAt: string }>;
  enrol(
    input: z.infer<typeof enrolBody>,
  ): Promise<{ site: string; leafnodeUrl: string; user: string; password: string }>;
  sites(): Promise<unknown[]>;
  revoke(site: string): Promise<void>;
  records(collection: string, key?: string): Promise<unknown>;
  writeData(input: {
    service: string;
    collection: string;
    key: string;
    op: "upsert" | "delete";
    data: unknown;
  }): Promise<unknown>;
}

export const dataBody = z.object({ data: z.json() }).strict();

async function json<T extends z.ZodType>(
  c: { req: { json(): Promise<unknown> } },
  schema: T,
): Promise<z.infer<T>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new ApiError(400, "the body is not valid JSON");
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
    throw new ApiError(400, "invalid request", { issues });
  }
  return parsed.data;
}

/** A check of `Authorization: Bearer <hub admin token>` (401 otherwise), in constant time. */
export function adminCheck(adminToken: string) {
  const expected = Buffer.from(adminToken);
  return (header: string | undefined) => {
    const given = Buffer.from(bearerToken(header) ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ApiError(401, "the hub admin token is required");
    }
  };
}

/** Paths that stream their raw request body themselves (a body limit reading it first would consume it). */
const STREAMED = [
  "/api/hub/blobs/",
  "/api/hub/backups/objects/",
  "/api/hub/forms/attachments/",
  "/api/hub/bundles/upload",
  "/api/hub/models/upload",
];

export function hubApi(deps: HubApiDeps) {
  const app = new Hono();
  const admin = adminCheck(deps.adminToken);
  const limit = bodyLimit({
    maxSize: 64 * 1024,
    onError: (c) => c.json(errorBody(413, "request body over 64 KiB"), 413),
  });
  app.use((c, next) => (STREAMED.some((p) => c.req.path.startsWith(p)) ? next() : limit(c, next)));
  app.get("/health", (c) => c.json({ status: "ok", role: "hub" }));
  app.route("/", fleetPage());

  app.post("/api/hub/tokens", async (c) => {
    admin(c.req.header("authorization"));
    const body = await json(c, tokenBody);
    return c.json(await deps.createToken(body.site, body.ttlSeconds), 201);
  });
  app.post("/api/hub/enrol", async (c) => {
    const body = await json(c, enrolBody);
    try {
      return c.json(await deps.enrol(body), 201);
    } catch (err) {
      // Not completed, token kept: the box tries again after a pause (appliance/enroll.ts).
      if (err instanceof ApiError && err.status === 503)
        return c.json(errorBody(503, err.message), 503, { "retry-after": String(ENROL_RETRY_AFTER_S) });
      throw err;
    }
  });
  app.get("/api/hub/sites", async (c) => {
    admin(c.req.header("authorization"));
    return c.json({ sites: await deps.sites() });
  });
  app.delete("/api/hub/sites/:site", async (c) => {
    admin(c.req.header("authorization"));
    const site = c.req.param("site");
    if (!SITE_ID.test(site)) throw new ApiError(400, "malformed site id");
    await deps.revoke(site);
    return c.json({ revoked: site });
  });
  app.get("/api/hub/records/:collection", async (c) => {
    admin(c.req.header("authorization"));
    const collection = c.req.param("collection");
    if (!COLLECTION_NAME.test(collection)) throw new ApiError(400, "malformed collection");
    const key = c.req.query("key");
    if (key !== undefined && key.length > 512) throw new ApiError(400, "key too long");
    return c.json(await deps.records(collection, key));
  });
  // Hub-side changes (config, reference data, …): sent to every box, applied there by the service.
  const dataRoute = async (c: Context, op: "upsert" | "delete") => {
    admin(c.req.header("authorization"));
    const { service = "", collection = "", key = "" } = c.req.param() as Record<string, string>;
    if (!SERVICE_NAME.test(service)) throw new ApiError(400, "malformed service");
    if (!/^[a-z][a-z0-9_-]{0,62}$/.test(collection)) throw new ApiError(400, "malformed collection");
    if (!key || key.length > 512) throw new ApiError(400, "a key is 1 to 512 characters");
    const data = op === "upsert" ? (await json(c, dataBody)).data : null;
    return c.json({ record: await deps.writeData({ service, collection, key, op, data }) });
  };
  app.put("/api/hub/data/:service/:collection/:key", (c) => dataRoute(c, "upsert"));
  app.delete("/api/hub/data/:service/:collection/:key", (c) => dataRoute(c, "delete"));
  if (deps.extra) app.route("/", deps.extra);
  app.notFound((c) => c.json(errorBody(404, "no such route", { path: c.req.path }), 404));
  app.onError((err, c) => renderError(err, c, deps.log));
  return app;
}
