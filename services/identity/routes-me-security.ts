/** Routes for the signed-in user's credentials: their password and TOTP. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { clientIp, jsonRoute, type ServiceContext } from "../../appliance/kit/index.js";
import type { IdentityConfig } from "./config.js";
import { enrollTotp } from "./mfa.js";
import { requireLogin } from "./route-caller.js";
import * as s from "./schemas.js";
import { changeMyPassword, confirmMyTotp, disableMyTotp } from "./self-actions.js";

type Ctx = ServiceContext<IdentityConfig>;

/** Registers the password change, then TOTP enrol, confirm and disable. */
export function meSecurityRoutes(app: OpenAPIHono, ctx: Ctx) {
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
      await changeMyPassword(ctx, requireLogin(c, "change the password"), clientIp(c), body);
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
    (c, { body }) => c.json(confirmMyTotp(ctx, requireLogin(c, "change MFA"), clientIp(c), body.code), 200),
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
      await disableMyTotp(ctx, requireLogin(c, "change MFA"), clientIp(c), body.password);
      return c.json({ mfaEnabled: false }, 200);
    },
  );
}
