/** Admin routes for keys: every API key on the box, and the token signing keys. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { jsonRoute, type ServiceContext } from "../../appliance/kit/index.js";
import { revokeAnyApiKeyAs, rotateSigningKeyAs } from "./admin-access.js";
import { listApiKeys } from "./api-keys.js";
import type { IdentityConfig } from "./config.js";
import { who } from "./route-caller.js";
import * as s from "./schemas.js";
import { listSigningKeys } from "./signing.js";

type Ctx = ServiceContext<IdentityConfig>;

/** Registers the routes over everyone's API keys. */
export function apiKeyRoutes(app: OpenAPIHono, ctx: Ctx) {
  jsonRoute(
    app,
    {
      method: "get",
      path: "/api-keys",
      operationId: "listApiKeys",
      summary: "Every API key on the box",
      response: s.apiKeysOut,
    },
    (c) => c.json({ keys: listApiKeys(ctx) }, 200),
  );
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/api-keys/{id}",
      operationId: "revokeApiKey",
      summary: "Revoke any API key",
      params: s.id,
      response: s.flag("revoked"),
      errors: [404],
    },
    (c, { params }) => {
      revokeAnyApiKeyAs(ctx, who(c), params.id);
      return c.json({ revoked: true }, 200);
    },
  );
}

/** Registers the token signing key routes. */
export function signingKeyRoutes(app: OpenAPIHono, ctx: Ctx) {
  jsonRoute(
    app,
    {
      method: "get",
      path: "/signing-keys",
      operationId: "listSigningKeys",
      summary: "Token signing keys (ids and dates)",
      response: s.signingKeysOut,
    },
    (c) => c.json({ keys: listSigningKeys(ctx) }, 200),
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/signing-keys/rotate",
      operationId: "rotateSigningKey",
      summary: "Rotate the token signing key; nobody is logged out",
      response: s.kidOut,
    },
    (c) => c.json({ kid: rotateSigningKeyAs(ctx, who(c)) }, 200),
  );
}
