/**
 * The OpenAPI paths of what the gateway answers itself — `/health`, `/ready`, `/metrics` and the appliance
 * API — for the aggregated `/api/openapi.json` (openapi.ts). `/health`, `/ready` and `/metrics` are served
 * by gateway.ts directly: here they are only described. Built once: these paths do not change while it runs.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { type AccessRule, finishOperations, type PathItem, rule } from "../kit/index.js";
import { APPLIANCE_ACCESS } from "./appliance-access.js";
import { APPLIANCE_TAG } from "./appliance-routes.js";
import type { OpenApiPart } from "./openapi.js";

/** What the gateway enforces on its own paths; the document's security and standard errors come from it. */
const GATEWAY_ACCESS: readonly AccessRule[] = [
  rule("GET", "/health", "public"),
  rule("GET", "/ready", "public"),
  rule("GET", "/metrics", "appliance:read"), // unless gateway.metricsPublic: the document shows the default
  ...APPLIANCE_ACCESS.map((r) => ({ ...r, path: `/api/appliance${r.path}` })),
];

const own = { tags: [APPLIANCE_TAG] };

const healthRoute = createRoute({
  ...own,
  method: "get",
  path: "/health",
  operationId: "gatewayHealth",
  summary: "The gateway is up",
  responses: {
    200: {
      description: "up",
      content: { "application/json": { schema: z.object({ status: z.literal("ok"), version: z.string() }) } },
    },
  },
});

const readySchema = z.object({
  status: z.enum(["ready", "degraded"]),
  services: z.record(z.string(), z.enum(["ready", "unavailable"])),
  /** Present while the gateway cannot verify credentials yet (identity's keys unknown). */
  auth: z.literal("unavailable").optional(),
});
const readyRoute = createRoute({
  ...own,
  method: "get",
  path: "/ready",
  operationId: "gatewayReady",
  summary: "Whether every configured service is ready",
  responses: {
    200: { description: "every service ready", content: { "application/json": { schema: readySchema } } },
    503: {
      description: "some service unavailable",
      content: { "application/json": { schema: readySchema } },
    },
  },
});

const metricsRoute = createRoute({
  ...own,
  method: "get",
  path: "/metrics",
  operationId: "gatewayMetrics",
  summary: "Prometheus metrics of the gateway and the services (needs appliance:read)",
  responses: {
    200: { description: "text exposition format 0.0.4", content: { "text/plain": { schema: z.string() } } },
  },
});

/** The gateway's own paths, with the appliance API's app (already under `/api/appliance`) when there is one. */
export function gatewayOpenApi(appliance?: Pick<OpenAPIHono, "getOpenAPI31Document">): OpenApiPart {
  const config = { openapi: "3.1.0", info: { title: "nexus gateway", version: "0" } };
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  const described = new OpenAPIHono();
  for (const route of [healthRoute, readyRoute, metricsRoute]) described.openAPIRegistry.registerPath(route);
  for (const doc of [described.getOpenAPI31Document(config), appliance?.getOpenAPI31Document(config)]) {
    Object.assign(paths, doc?.paths);
    Object.assign(schemas, doc?.components?.schemas);
  }
  finishOperations(paths as Record<string, PathItem>, GATEWAY_ACCESS);
  return { paths: paths as OpenApiPart["paths"], components: { schemas } };
}
