/** Routes only the gateway and supervisor call (never routed from outside: the gateway refuses /internal/*). */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { ApiError, jsonRoute, type ServiceContext } from "../../appliance/kit/index.js";
import { apiKeyBySecret } from "./api-keys.js";
import { audit } from "./audit.js";
import type { IdentityConfig } from "./config.js";
import { principalFor } from "./principal.js";
import * as s from "./schemas.js";
import { sessionBySecret } from "./sessions.js";
import { issueSetupToken } from "./setup.js";
import { userRow } from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;

/** Internal answers: the gateway's own contract with identity, never in the served document. */
const principalOut = z.object({
  principal: z.object({
    id: z.string(),
    username: z.string(),
    roles: z.array(z.string()),
    permissions: z.array(z.string()),
    teams: z.array(z.string()),
    via: z.enum(["session", "token", "api-key"]),
    sid: z.string().optional(),
    csrf: z.string().optional(),
  }),
});

export function internalRoutes(app: OpenAPIHono, ctx: Ctx) {
  jsonRoute(
    app,
    {
      method: "post",
      path: "/internal/introspect",
      operationId: "introspect",
      summary: "Resolve a session cookie or API key to a principal",
      body: s.introspectBody,
      response: principalOut,
      errors: [401],
    },
    (c, { body }) => {
      if (body.kind === "session") {
        const session = sessionBySecret(ctx, body.secret);
        const u = session ? userRow(ctx, session.user_id) : undefined;
        if (!session || !u || u.status !== "active") throw new ApiError(401, "no live session");
        return c.json(
          { principal: principalFor(ctx, u, "session", { sid: session.id, csrf: session.csrf }) },
          200,
        );
      }
      const key = apiKeyBySecret(ctx, body.secret);
      const u = key ? userRow(ctx, key.userId) : undefined;
      if (!key || !u || u.status !== "active") throw new ApiError(401, "no live API key");
      if (!key.lastUsedAt || Date.now() - Date.parse(key.lastUsedAt) > 60_000) {
        audit(ctx, { actor: u.username, action: "apikey.used", target: key.id });
      }
      return c.json({ principal: principalFor(ctx, u, "api-key", { scope: key.permissions }) }, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "post",
      path: "/internal/setup-token",
      operationId: "issueSetupToken",
      summary: "A one-time first-admin setup token (null once an admin exists)",
      response: z.object({ setup: z.object({ token: z.string(), expiresAt: z.string() }).nullable() }),
    },
    (c) => c.json({ setup: issueSetupToken(ctx) }, 200),
  );
}
