/** Routes for the signed-in user: who they are, their access token, and their sessions. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import {
  ApiError,
  clientIp,
  jsonRoute,
  requireCaller,
  type ServiceContext,
} from "../../appliance/kit/index.js";
import type { IdentityConfig } from "./config.js";
import { requireLogin, setCookies } from "./route-caller.js";
import * as s from "./schemas.js";
import { logoutAllAs, logoutAs, renewAccessToken } from "./self-actions.js";
import { clearedCookies, listSessions, revokeSession } from "./sessions.js";
import { getUser } from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;

/** Registers who-am-I, token renewal and logout, then the caller's sessions (the order is the served document's). */
export function meRoutes(app: OpenAPIHono, ctx: Ctx) {
  const me = {
    method: "get",
    path: "/me",
    operationId: "getMe",
    summary: "The signed-in user and their permissions",
    response: s.meOut,
    errors: [404],
  } as const;
  jsonRoute(app, me, (c) => {
    const caller = requireCaller(c);
    if (caller.via === "bootstrap-token") throw new ApiError(404, "the bootstrap token has no user");
    return c.json({ ...getUser(ctx, caller.id), permissions: caller.permissions, via: caller.via }, 200);
  });
  jsonRoute(
    app,
    {
      method: "post",
      path: "/token",
      operationId: "renewToken",
      summary: "A fresh access token for the current session",
      response: s.accessTokenOut,
    },
    (c) => c.json(renewAccessToken(ctx, requireCaller(c)), 200),
  );
  const logout = {
    method: "post",
    path: "/logout",
    operationId: "logout",
    summary: "End the current session",
    response: s.flag("loggedOut"),
  } as const;
  jsonRoute(app, logout, (c) => {
    logoutAs(ctx, requireCaller(c), clientIp(c));
    setCookies(c, clearedCookies(ctx.config.secureCookies));
    return c.json({ loggedOut: true }, 200);
  });
  jsonRoute(
    app,
    {
      method: "post",
      path: "/logout-all",
      operationId: "logoutAll",
      summary: "End every session of the signed-in user",
      response: s.countOut,
    },
    (c) => {
      const n = logoutAllAs(ctx, requireLogin(c, "end sessions"), clientIp(c));
      setCookies(c, clearedCookies(ctx.config.secureCookies));
      return c.json({ revoked: n }, 200);
    },
  );
  mySessionRoutes(app, ctx);
}

/** List and end the caller's own sessions. */
function mySessionRoutes(app: OpenAPIHono, ctx: Ctx) {
  const mySessions = {
    method: "get",
    path: "/me/sessions",
    operationId: "listMySessions",
    summary: "My live sessions",
    response: s.sessionsOut,
  } as const;
  jsonRoute(app, mySessions, (c) => {
    const caller = requireLogin(c, "list sessions");
    return c.json({ sessions: listSessions(ctx, caller.id, caller.sid) }, 200);
  });
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/me/sessions/{id}",
      operationId: "endMySession",
      summary: "End one of my sessions",
      params: s.id,
      response: s.flag("revoked"),
    },
    (c, { params }) => {
      revokeSession(ctx, requireLogin(c, "end sessions").id, params.id);
      return c.json({ revoked: true }, 200);
    },
  );
}
