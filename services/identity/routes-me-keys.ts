/** Routes for the signed-in user's own API keys. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { clientIp, jsonRoute, type ServiceContext } from "../../appliance/kit/index.js";
import { listApiKeys } from "./api-keys.js";
import type { IdentityConfig } from "./config.js";
import { requireLogin } from "./route-caller.js";
import * as s from "./schemas.js";
import { createMyApiKey, revokeMyApiKey } from "./self-actions.js";

type Ctx = ServiceContext<IdentityConfig>;

/** Registers list, create and revoke of the caller's API keys. */
export function myApiKeyRoutes(app: OpenAPIHono, ctx: Ctx) {
  const myKeys = {
    method: "get",
    path: "/me/api-keys",
    operationId: "listMyApiKeys",
    summary: "My API keys (never their secrets)",
    response: s.apiKeysOut,
  } as const;
  jsonRoute(app, myKeys, (c) => c.json({ keys: listApiKeys(ctx, requireLogin(c, "list API keys").id) }, 200));
  jsonRoute(
    app,
    {
      method: "post",
      path: "/me/api-keys",
      operationId: "createMyApiKey",
      summary: "Create an API key; the secret is shown once",
      body: s.apiKeyBody,
      response: s.newApiKeyOut,
      status: 201,
    },
    (c, { body }) => c.json(createMyApiKey(ctx, requireLogin(c, "create API keys"), clientIp(c), body), 201),
  );
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/me/api-keys/{id}",
      operationId: "revokeMyApiKey",
      summary: "Revoke one of my API keys",
      params: s.id,
      response: s.flag("revoked"),
      errors: [404],
    },
    (c, { params }) => {
      // A leaked key must not be able to switch off its owner's other keys.
      revokeMyApiKey(ctx, requireLogin(c, "revoke API keys"), clientIp(c), params.id);
      return c.json({ revoked: true }, 200);
    },
  );
}
