/** Routes for anyone: login, setup, and what a signed-in user does with their own account. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import {
  ApiError,
  clientIp,
  jsonRoute,
  requireCaller,
  type ServiceContext,
} from "../../appliance/kit/index.js";
import { createApiKey, listApiKeys, revokeApiKey } from "./api-keys.js";
import { auditCaller } from "./audit.js";
import type { IdentityConfig } from "./config.js";
import { confirmOwnPassword } from "./lockout.js";
import { login } from "./login.js";
import { confirmTotp, disableTotp, enrollTotp } from "./mfa.js";
import { principalFor } from "./principal.js";
import * as s from "./schemas.js";
import { clearedCookies, listSessions, liveSession, revokeSession, sessionCookies } from "./sessions.js";
import { completeSetup, setupNeeded } from "./setup.js";
import { issueAccessToken, jwks } from "./signing.js";
import { getUser, revokeUserSessions, setPassword, userRow } from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;

/**
 * The caller, when signed in as themselves. An API key acts within its scope only: `/me/*` is open to any
 * authenticated caller, so without this a key scoped to `system:read` could enrol MFA on its owner's account,
 * change the password, end every session, or read where its owner is signed in and which keys they hold.
 * Every `/me/*` route uses it; `GET /me` (who am I) does not.
 */
function requireLogin(c: Parameters<typeof requireCaller>[0], what: string) {
  const caller = requireCaller(c);
  if (caller.via === "api-key") throw new ApiError(403, `API keys cannot ${what}`);
  return caller;
}

export function selfRoutes(app: OpenAPIHono, ctx: Ctx) {
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
      for (const cookie of sessionCookies(
        r.session.secret,
        r.session.csrf,
        ctx.config.sessionAbsoluteSec,
        ctx.config.secureCookies,
      )) {
        c.header("set-cookie", cookie, { append: true });
      }
      return c.json(
        { token: r.access.token, expiresIn: r.access.expiresIn, csrfToken: r.session.csrf, user: r.user },
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
    (c) => {
      const caller = requireCaller(c);
      const session = caller.sid ? liveSession(ctx, caller.sid) : null;
      const u = session ? userRow(ctx, session.user_id) : undefined;
      if (!session || !u || u.status !== "active") throw new ApiError(401, "session ended; log in again");
      const p = principalFor(ctx, u, "session", { sid: session.id });
      return c.json(
        issueAccessToken(ctx, {
          userId: u.id,
          username: u.username,
          sid: session.id,
          roles: p.roles,
          permissions: p.permissions,
          teams: p.teams,
        }),
        200,
      );
    },
  );

  const logout = {
    method: "post",
    path: "/logout",
    operationId: "logout",
    summary: "End the current session",
    response: s.flag("loggedOut"),
  } as const;
  jsonRoute(app, logout, (c) => {
    const caller = requireCaller(c);
    if (caller.sid) revokeSession(ctx, caller.id, caller.sid);
    auditCaller(ctx, caller, clientIp(c), { action: "logout", target: caller.id });
    for (const cookie of clearedCookies(ctx.config.secureCookies))
      c.header("set-cookie", cookie, { append: true });
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
      const caller = requireLogin(c, "end sessions");
      const n = revokeUserSessions(ctx, caller.id);
      auditCaller(ctx, caller, clientIp(c), {
        action: "logout.all",
        target: caller.id,
        details: { sessions: n },
      });
      for (const cookie of clearedCookies(ctx.config.secureCookies))
        c.header("set-cookie", cookie, { append: true });
      return c.json({ revoked: n }, 200);
    },
  );

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
      const caller = requireLogin(c, "end sessions");
      revokeSession(ctx, caller.id, params.id);
      return c.json({ revoked: true }, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "post",
      path: "/me/password",
      operationId: "changeMyPassword",
      summary: "Change my password (ends my other sessions)",
      body: s.changePasswordBody,
      response: s.flag("changed"),
      errors: [423],
    },
    async (c, { body }) => {
      const caller = requireLogin(c, "change the password");
      if (!(await confirmOwnPassword(ctx, caller.id, body.currentPassword, clientIp(c)))) {
        auditCaller(ctx, caller, clientIp(c), {
          action: "password.change",
          target: caller.id,
          outcome: "failure",
        });
        throw new ApiError(403, "current password is wrong");
      }
      // The summary promises "ends my other sessions": keep the one making the change.
      await setPassword(ctx, caller.id, body.newPassword, false, caller.sid);
      auditCaller(ctx, caller, clientIp(c), { action: "password.change", target: caller.id });
      return c.json({ changed: true }, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "post",
      path: "/me/mfa/enroll",
      operationId: "enrollTotp",
      summary: "Start TOTP enrolment: a secret for the authenticator app",
      response: s.totpEnrollOut,
      errors: [409],
    },
    (c) => c.json(enrollTotp(ctx, requireLogin(c, "change MFA").id), 200),
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/me/mfa/confirm",
      operationId: "confirmTotp",
      summary: "Confirm TOTP with a code; returns recovery codes once",
      body: s.codeBody,
      response: s.recoveryCodesOut,
      errors: [409],
    },
    (c, { body }) => {
      const caller = requireLogin(c, "change MFA");
      const r = confirmTotp(ctx, caller.id, body.code);
      auditCaller(ctx, caller, clientIp(c), { action: "mfa.enabled", target: caller.id });
      return c.json(r, 200);
    },
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/me/mfa/disable",
      operationId: "disableTotp",
      summary: "Turn TOTP off (needs the password)",
      body: s.passwordOnlyBody,
      response: s.flag("mfaEnabled"),
      errors: [423],
    },
    async (c, { body }) => {
      const caller = requireLogin(c, "change MFA");
      if (!(await confirmOwnPassword(ctx, caller.id, body.password, clientIp(c)))) {
        auditCaller(ctx, caller, clientIp(c), {
          action: "mfa.disabled",
          target: caller.id,
          outcome: "failure",
        });
        throw new ApiError(403, "password is wrong");
      }
      disableTotp(ctx, caller.id);
      auditCaller(ctx, caller, clientIp(c), { action: "mfa.disabled", target: caller.id });
      return c.json({ mfaEnabled: false }, 200);
    },
  );

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
    (c, { body }) => {
      const caller = requireLogin(c, "create API keys");
      // A key made on a temporary password would come alive with full rights once it is changed: whoever
      // learnt the temporary one (the admin who reset it, a shoulder) could plant a key that outlives it.
      if (userRow(ctx, caller.id)?.must_change_password)
        throw new ApiError(403, "change your password first: a temporary password cannot create API keys");
      const r = ctx.tx(() => {
        const created = createApiKey(ctx, caller.id, body);
        auditCaller(ctx, caller, clientIp(c), {
          action: "apikey.created",
          target: created.key.id,
          details: { permissions: body.permissions },
        });
        return created;
      });
      return c.json({ ...r.key, secret: r.secret }, 201);
    },
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
      const caller = requireLogin(c, "revoke API keys");
      revokeApiKey(ctx, params.id, caller.id);
      auditCaller(ctx, caller, clientIp(c), { action: "apikey.revoked", target: params.id });
      return c.json({ revoked: true }, 200);
    },
  );
}
