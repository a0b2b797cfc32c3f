/** Routes for anyone: login, first-admin setup, and the keys that verify access tokens. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { clientIp, jsonRoute, type ServiceContext } from "../../appliance/kit/index.js";
import type { IdentityConfig } from "./config.js";
import { login } from "./login.js";
import { setCookies } from "./route-caller.js";
import * as s from "./schemas.js";
import { sessionCookies } from "./sessions.js";
import { completeSetup, setupNeeded } from "./setup.js";
import { jwks } from "./signing.js";

type Ctx = ServiceContext<IdentityConfig>;

/** Registers the public routes. */
export function publicRoutes(app: OpenAPIHono, ctx: Ctx) {
  jsonRoute(
    app,
    {
      method: "post",
      path: "/login",
      operationId: "login",
      summary: "Log in: session cookie + bearer access token",
      body: s.loginBody,
      response: s.loginOut,
      errors: [401, 429],
    },
    async (c, { body }) => {
      const r = await login(ctx, { ...body, ip: clientIp(c), userAgent: c.req.header("user-agent") ?? "" });
      const { secret, csrf } = r.session;
      setCookies(c, sessionCookies(secret, csrf, ctx.config.sessionAbsoluteSec, ctx.config.secureCookies));
      return c.json(
        { token: r.access.token, expiresIn: r.access.expiresIn, csrfToken: csrf, user: r.user },
        200,
      );
    },
  );
  jsonRoute(
    app,
    {
      method: "get",
      path: "/setup",
      operationId: "getSetupState",
      summary: "Whether the first admin still has to be created",
      response: s.setupStateOut,
    },
    (c) => c.json({ needed: setupNeeded(ctx) }, 200),
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/setup",
      operationId: "completeSetup",
      summary: "Create the first admin with the one-time setup token",
      body: s.setupBody,
      response: s.userOut,
      errors: [401, 409],
      status: 201,
    },
    async (c, { body }) => c.json(await completeSetup(ctx, { ...body, ip: clientIp(c) }), 201),
  );
  jsonRoute(
    app,
    {
      method: "get",
      path: "/jwks",
      operationId: "getJwks",
      summary: "Public keys that verify access tokens",
      response: s.jwksOut,
    },
    (c) => c.json(jwks(ctx), 200),
  );
}
