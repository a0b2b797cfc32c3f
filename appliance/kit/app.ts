/** Builds a service's Hono app: request logging, body limit, health/ready, its routes, OpenAPI, one error shape. */
import { timingSafeEqual } from "node:crypto";
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { MetricsRegistry } from "../lib/metrics/index.js";
import { ruleFor } from "./access.js";
import type { ServiceContext, ServiceDefinition } from "./define-service.js";
import { errorBody, renderError } from "./errors.js";
import { serveDocument } from "./openapi.js";

export const REQUEST_ID_HEADER = "x-request-id";

/** Health probes: open to anyone, logged at debug. */
const PROBES = new Set(["/health", "/ready"]);
/** Polled by the gateway on every scrape: logged at debug like the probes, but it needs the internal token. */
const METRICS_PATH = "/internal/metrics";

export interface AppOptions {
  /** Largest request body a service accepts, in bytes. */
  bodyLimitBytes: number;
  /** When set, every route but /health and /ready needs `x-nexus-internal: <token>` (sent by the gateway). */
  internalToken?: string;
  /** Extra readiness checks from the runtime (database, bus). */
  ready: () => Promise<string | null>;
  /** The process's metrics, as JSON families at `/internal/metrics`; absent: no such route. */
  metrics?: MetricsRegistry;
}

/** The app for one service; the runtime serves it, tests can call `app.request()` on it directly. */
export function createServiceApp<C>(def: ServiceDefinition<C>, ctx: ServiceContext<C>, opts: AppOptions) {
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issues = result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
        return c.json(errorBody(400, "invalid request", { issues }), 400);
      }
    },
  });

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    // The supervisor probes /ready every few seconds: at info, probes were most of a service's log.
    const level = PROBES.has(c.req.path) || c.req.path === METRICS_PATH ? "debug" : "info";
    ctx.log[level](
      {
        reqId: c.req.header(REQUEST_ID_HEADER),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      },
      "request",
    );
  });
  if (opts.internalToken) {
    const expected = Buffer.from(opts.internalToken);
    app.use(async (c, next) => {
      if (PROBES.has(c.req.path)) return next();
      const given = Buffer.from(c.req.header("x-nexus-internal") ?? "");
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return c.json(errorBody(401, "requests must come through the gateway"), 401);
      }
      return next();
    });
  }
  const limitBody = bodyLimit({
    maxSize: opts.bodyLimitBytes,
    onError: (c) => c.json(errorBody(413, `request body over ${opts.bodyLimitBytes} bytes`), 413),
  });
  // Streaming routes (uploads) read the raw request themselves and count what they store.
  const streaming = def.access.filter((r) => r.maxBodyBytes);
  app.use(async (c, next) => {
    // No body to limit; and asking the adapter for one builds a whole web Request (a fifth of a GET's CPU).
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    const max = streaming.length ? ruleFor(streaming, c.req.method, c.req.path).maxBodyBytes : undefined;
    if (!max) return limitBody(c, next);
    if (Number(c.req.header("content-length") ?? 0) > max) {
      return c.json(errorBody(413, `request body over ${max} bytes`), 413);
    }
    return next();
  });

  app.get("/health", (c) => c.json({ status: "ok", service: def.name, version: def.version }));
  app.get("/ready", async (c) => {
    const problem = (await opts.ready()) ?? (await readyFromHealth(def, ctx));
    if (problem) return c.json(errorBody(503, "not ready", { reason: problem }), 503);
    return c.json({ status: "ready", service: def.name });
  });

  const { metrics } = opts;
  if (metrics) app.get(METRICS_PATH, (c) => c.json(metrics.collect()));

  def.routes(app, ctx);

  serveDocument(app, def);
  app.notFound((c) => c.json(errorBody(404, "no such route", { path: c.req.path }), 404));
  app.onError((err, c) => renderError(err, c, ctx.log));
  return app;
}

async function readyFromHealth<C>(def: ServiceDefinition<C>, ctx: ServiceContext<C>): Promise<string | null> {
  try {
    const h = await def.health(ctx);
    return h.ok ? null : h.reason;
  } catch (err) {
    return `health check threw: ${(err as Error).message}`;
  }
}
