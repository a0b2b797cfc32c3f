/**
 * The routes of the gateway's own API (`/api/appliance/…`) as OpenAPI definitions: paths, zod schemas of the
 * input the handlers in appliance-api.ts may assume, and of every answer. Errors have the one shape
 * `{ status, message, data }`. Security is filled in from APPLIANCE_ACCESS (gateway-openapi.ts), as for a
 * service's routes.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { errorBodySchema } from "../kit/index.js";
import { SERVICE_NAME } from "../lib/names.js";

export const APPLIANCE_TAG = "appliance";

/** The one error shape (kit/openapi.ts's `ErrorBody`): the appliance API's refusals are the services'. */
export const errorSchema = errorBodySchema;

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
export const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((code) => [code, json(errorSchema, "error")]));
/** What every appliance route may answer besides its own results (gateway checks, then validation). */
export const COMMON = [400, 401, 403, 405, 429];

const serviceName = z
  .string()
  .regex(SERVICE_NAME, "name: lower-case letters, digits and '-'")
  .openapi({ param: { name: "name", in: "path" }, example: "system" });
export const nameParams = z.object({ name: serviceName });

/** No query parameter at all: an unexpected one is refused rather than ignored. */
export const noQuery = z.object({}).strict();
const filter = z.string().max(200).optional().openapi({ description: "plain case-insensitive text" });
export const tailQuery = z
  .object({ lines: z.coerce.number().int().min(1).max(5000).default(200), filter })
  .strict();
export const eventsQuery = z
  .object({ intervalMs: z.coerce.number().int().min(500).max(60_000).default(2000) })
  .strict();

const serviceRow = z.object({
  name: z.string(),
  unit: z.string(),
  state: z.string(),
  pid: z.number().int().nullable(),
  restarts: z.number().int(),
  uptimeSeconds: z.number().nullable(),
  memoryBytes: z.number().nullable(),
  lastError: z.string().nullable(),
});
const gpu = z.object({
  index: z.number().int(),
  name: z.string(),
  utilizationPercent: z.number().nullable(),
  memoryUsedBytes: z.number().nullable(),
  memoryTotalBytes: z.number().nullable(),
  temperatureC: z.number().nullable(),
});
const alert = z.object({ id: z.string(), level: z.enum(["warning", "critical"]), message: z.string() });

export const syncSchema = z
  .object({
    enrolled: z.boolean(),
    site: z.string().nullable(),
    hubUrl: z.string().nullable(),
    link: z.enum(["up", "down", "unknown", "not-enrolled"]),
    linkTls: z.enum(["pinned-ca", "system-ca", "none"]).nullable(),
    backlog: z.number().int(),
    lagSeconds: z.number(),
    lastAckAt: z.string().nullable(),
    services: z.array(
      z.object({
        service: z.string(),
        pending: z.number().int(),
        unpublished: z.number().int(),
        oldestPendingAt: z.string().nullable(),
        ackedSeq: z.number().int(),
        ackedAt: z.string().nullable(),
      }),
    ),
  })
  .openapi("ApplianceSync");

export const statusSchema = z
  .object({
    version: z.string(),
    site: z.string(),
    time: z.string(),
    uptimeSeconds: z.number(),
    nats: z.object({ state: z.string() }),
    services: z.array(serviceRow),
    box: z.object({
      cpuPercent: z.number(),
      cpus: z.number().int(),
      loadAverage: z.array(z.number()),
      memory: z.object({ totalBytes: z.number(), usedBytes: z.number(), usedPercent: z.number() }),
      disk: z
        .object({
          path: z.string(),
          totalBytes: z.number(),
          freeBytes: z.number(),
          availableBytes: z.number(),
          usedPercent: z.number(),
        })
        .nullable(),
      gpus: z.array(gpu).nullable(),
    }),
    alerts: z.array(alert),
    lastUpgrade: z
      .object({
        outcome: z.enum(["committed", "rolled-back"]),
        from: z.string(),
        to: z.string(),
        reason: z.string().optional(),
        at: z.string(),
        seconds: z.number().optional(),
      })
      .nullable(),
    sync: syncSchema,
  })
  .openapi("ApplianceStatus");

const actionSchema = z
  .object({
    service: z.string(),
    unit: z.string(),
    action: z.enum(["restart", "stop", "start"]),
    affects: z.array(z.string()).openapi({ description: "services sharing the unit's process" }),
    state: z.string().nullable(),
  })
  .openapi("ServiceAction");
const linesSchema = z.object({ service: z.string(), lines: z.array(z.string()) }).openapi("LogLines");
const eventStream = (description: string) => ({
  description,
  content: { "text/event-stream": { schema: z.string() } },
});

export const get = <P extends string>(path: P, operationId: string, summary: string) => ({
  method: "get" as const,
  path,
  operationId,
  summary,
  tags: [APPLIANCE_TAG],
});

export const statusRoute = createRoute({
  ...get("/status", "applianceStatus", "The box: services, resources, alerts and sync"),
  request: { query: noQuery },
  responses: { 200: json(statusSchema, "the box's status"), ...errors(...COMMON) },
});

export const syncRoute = createRoute({
  ...get("/sync", "applianceSync", "The box's sync with the hub"),
  request: { query: noQuery },
  responses: { 200: json(syncSchema, "sync status"), ...errors(...COMMON) },
});

export const eventsRoute = createRoute({
  ...get("/events", "applianceEvents", "The box's status as Server-Sent Events (`event: status`)"),
  request: { query: eventsQuery },
  responses: { 200: eventStream("one `status` event at once, then every interval"), ...errors(...COMMON) },
});

export const logsRoute = createRoute({
  ...get("/services/{name}/logs", "applianceLogTail", "The last lines of a service's log"),
  request: { params: nameParams, query: tailQuery },
  responses: { 200: json(linesSchema, "the lines, oldest first"), ...errors(...COMMON, 404) },
});

export const followRoute = createRoute({
  ...get("/services/{name}/logs/follow", "applianceLogFollow", "A service's log, live (`event: lines`)"),
  request: { params: nameParams, query: tailQuery },
  responses: { 200: eventStream("the tail first, then new lines"), ...errors(...COMMON, 404) },
});

export const downloadRoute = createRoute({
  ...get("/services/{name}/logs/download", "applianceLogDownload", "A service's log file as an attachment"),
  request: { params: nameParams, query: noQuery },
  responses: {
    200: { description: "the log", content: { "text/plain": { schema: z.string() } } },
    ...errors(...COMMON, 404),
  },
});

/** restart, stop and start: the same route shape. */
export const actionRoute = (action: "restart" | "stop" | "start", summary: string) =>
  createRoute({
    method: "post",
    path: `/services/{name}/${action}`,
    operationId: `applianceService${action[0]!.toUpperCase()}${action.slice(1)}`,
    summary,
    tags: [APPLIANCE_TAG],
    request: { params: nameParams, query: noQuery },
    responses: {
      202: json(actionSchema, "done; `state` is the unit's state now"),
      ...errors(...COMMON, 404, 409),
    },
  });
