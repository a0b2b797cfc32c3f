/**
 * A service's OpenAPI 3.1 document, finished from what the service already declares: each operation's
 * security comes from its access rule (`defineService({ access })`, the rules the gateway enforces), so the
 * document cannot disagree with the gateway; every error is the one `ErrorBody` shape.
 *
 * Invariant: every operation in a finished document has an operationId, a security list (`[]` when public)
 * and, besides its success responses, 429 (the gateway's rate limit) and `default` (any other error) as
 * `ErrorBody`; non-public ones also 401 and 403.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import { type AccessRule, ruleFor } from "./access.js";
import { CSRF_HEADER, SESSION_COOKIE } from "./credentials.js";

/** The wire shape of every error (see errors.ts). */
export const errorBodySchema = z
  .object({
    status: z.number().int(),
    message: z.string(),
    data: z.record(z.string(), z.unknown()).nullable(),
  })
  .describe("Every error: { status, message, data }")
  .openapi("ErrorBody");

/** How callers authenticate (see docs/api.md#authentication). */
export const securitySchemes = {
  bearer: {
    type: "http",
    scheme: "bearer",
    description: "An access token from POST /api/identity/login or /token (ES256 JWT), or an API key (nxk_…)",
  },
  apiKey: { type: "apiKey", in: "header", name: "x-api-key", description: "An API key (nxk_…)" },
  session: {
    type: "apiKey",
    in: "cookie",
    name: SESSION_COOKIE,
    description: "The console's session cookie, set by POST /api/identity/login",
  },
  csrf: {
    type: "apiKey",
    in: "header",
    name: CSRF_HEADER,
    description: "The session's csrfToken; cookie sessions send it on POST, PUT, PATCH and DELETE",
  },
} as const;

type Requirement = Record<string, string[]>;
const SAFE = new Set(["get", "head", "options"]);

/** The security requirements of a rule: `[]` when public or service-authenticated, else any of bearer, API key, session (+ CSRF). */
export function securityOf(rule: Pick<AccessRule, "access">, method: string): Requirement[] {
  if (rule.access === "public" || rule.access === "service") return [];
  const scopes = typeof rule.access === "object" ? [rule.access.permission] : [];
  const session: Requirement = SAFE.has(method) ? { session: scopes } : { session: scopes, csrf: [] };
  return [{ bearer: scopes }, { apiKey: scopes }, session];
}

const errorRef = { $ref: "#/components/schemas/ErrorBody" };

/** An error response in the one shape. */
export function errorResponse(description: string) {
  return { description, content: { "application/json": { schema: errorRef } } };
}

const ERROR_TEXT: Record<string, string> = {
  "400": "invalid request",
  "401": "no or invalid credentials",
  "403": "missing permission, or a cookie session without its CSRF token",
  "404": "not found",
  "409": "conflict",
  "410": "gone",
  "412": "a precondition failed",
  "413": "body over the limit",
  "415": "unsupported content type",
  "416": "range outside the file",
  "422": "content does not match its declared sha256",
  "423": "account locked",
  "429": "rate limit; retry-after says when",
  "460": "checksum mismatch",
  "507": "disk full or quota exceeded; nothing stored",
  default: "any other error (500, 503 service not running, 504 upstream timeout, …)",
};

/** Standard error responses for `statuses` (numbers or "default"). */
export function errorResponses(statuses: readonly (number | string)[]) {
  return Object.fromEntries(
    statuses.map((s) => [String(s), errorResponse(ERROR_TEXT[String(s)] ?? "error")]),
  );
}

/** An operation as finishOperations sees it. */
export type Operation = {
  operationId?: string;
  security?: Requirement[];
  responses?: Record<string, unknown>;
  [k: string]: unknown;
};
export type PathItem = Record<string, Operation>;
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** `/users/{id}` → `/users/_`: a concrete path that access rules (`/users/:id`, `/users/*`) match. */
const concrete = (path: string) => path.replace(/\{[^}]+\}/g, "_");

/** camelCase id from method and path, for operations registered without one (test fixtures). */
function derivedId(method: string, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
}

/** Adds security, standard errors and a fallback operationId to each operation, in place. */
export function finishOperations(paths: Record<string, PathItem>, access: readonly AccessRule[]): void {
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const security = securityOf(ruleFor(access, method, concrete(path)), method);
      op.operationId ??= derivedId(method, path);
      op.security = security;
      const standard = security.length ? [401, 403, 429, "default"] : [429, "default"];
      op.responses = { ...op.responses, ...errorResponses(standard.filter((s) => !op.responses?.[s])) };
    }
  }
}

/**
 * Serves the service's OpenAPI 3.1 document at `/openapi.json` (the gateway merges them). Built once, on the
 * first request, after every route has been registered.
 */
export function serveDocument(
  app: OpenAPIHono,
  def: { name: string; version: string; description?: string; access: readonly AccessRule[] },
): void {
  app.openAPIRegistry.register("ErrorBody", errorBodySchema);
  let doc: object | undefined;
  app.get("/openapi.json", (c) => {
    doc ??= serviceDocument(app, def);
    return c.json(doc);
  });
}

function serviceDocument(
  app: OpenAPIHono,
  def: { name: string; version: string; description?: string; access: readonly AccessRule[] },
) {
  const doc = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: { title: `nexus ${def.name}`, version: def.version, description: def.description },
  });
  finishOperations((doc.paths ?? {}) as Record<string, PathItem>, def.access);
  return { ...doc, components: { ...doc.components, securitySchemes } };
}
