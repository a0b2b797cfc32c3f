/**
 * What the gateway needs of its own API (`/api/appliance/…`) before the first call: the reserved name, the
 * permissions and access rules. The API itself (appliance-api.ts: a Hono app with zod schemas, the backup
 * routes, log followers) loads on its first request, so a supervisor nobody calls never loads it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { type AccessRule, rule } from "../kit/access.js";
import { checkPermissions, type PermissionDeclarations } from "../kit/permissions.js";
import type { Principal } from "./auth.js";

export const APPLIANCE_API = "appliance";
export const READ = "appliance:read";
export const WRITE = "appliance:write";

/** The gateway's own permissions, declared like a service's (identity composes the built-in roles from them). */
export const APPLIANCE_PERMISSIONS = {
  [READ]: {
    description: "See the box's status, services, sync and logs; read /metrics and the OpenAPI document",
    roles: ["operator"],
  },
  [WRITE]: {
    description: "Restart, stop and start services; start backups, verify and prune them, dry-run a restore",
    roles: ["operator"],
  },
} satisfies PermissionDeclarations;

/** Route permissions, checked by the gateway like a service's `access` rules. */
export const APPLIANCE_ACCESS: readonly AccessRule[] = [
  rule("GET", "/status", READ),
  rule("GET", "/events", READ),
  rule("GET", "/sync", READ),
  rule("GET", "/services/:name/logs", READ),
  rule("GET", "/services/:name/logs/*", READ),
  rule("POST", "/services/:name/*", WRITE),
  rule("GET", "/backups", READ),
  rule("GET", "/backups/jobs/:id", READ),
  rule("POST", "/backups", WRITE),
  rule("POST", "/backups/prune", WRITE),
  rule("POST", "/backups/:id/*", WRITE),
];
checkPermissions(APPLIANCE_API, APPLIANCE_PERMISSIONS, APPLIANCE_ACCESS);

export interface ApiCall {
  /** Path after `/api/appliance`. */
  rest: string;
  search: string;
  principal: Principal;
  reqId: string;
}

/** The appliance API as the gateway calls it. */
export interface ApplianceApiHandle {
  access: readonly AccessRule[];
  /** Answers one request the gateway has authorised (`req.url` is `/api/appliance/…`). */
  handle(req: IncomingMessage, res: ServerResponse, call: ApiCall): Promise<void>;
  /** Its Hono app, for the OpenAPI document (already under `/api/appliance`). */
  openApi(): Promise<Pick<OpenAPIHono, "getOpenAPI31Document">>;
}
