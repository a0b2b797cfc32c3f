/** HTTP for app users (per-device OpenRosa credentials) and the settings ODK Collect reads from a QR code. */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { jsonRoute, requireCaller } from "../../appliance/kit/index.js";
import {
  collectQrText,
  collectSettings,
  createAppUser,
  listAppUsers,
  revokeAppUser,
  setAppUserForms,
} from "./app-users.js";
import * as s from "./schemas.js";
import type { Ctx } from "./state.js";

/** The OpenRosa base URL a client on the box's network reaches. */
export function openRosaBase(ctx: Ctx, c: Context): string {
  const host = c.req.header("x-forwarded-host") ?? c.req.header("host") ?? "localhost";
  const proto = c.req.header("x-forwarded-proto") ?? "http";
  return `${ctx.config.publicUrl?.replace(/\/$/, "") ?? `${proto}://${host}`}/api/forms/openrosa`;
}

/** Mounts the app-user routes. */
export function appUserRoutes(app: OpenAPIHono, ctx: Ctx) {
  jsonRoute(
    app,
    {
      method: "get",
      path: "/app-users",
      operationId: "listAppUsers",
      summary: "App users, revoked ones included",
      response: z.object({ appUsers: z.array(s.appUserOut) }),
    },
    (c) => c.json({ appUsers: listAppUsers(ctx) }, 200),
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/app-users",
      operationId: "createAppUser",
      summary:
        "Create an app user: its token (shown once), the URL for ODK Collect and Collect's QR settings",
      body: s.appUserBody,
      response: s.appUserCreatedOut,
      status: 201,
      errors: [409],
    },
    (c, { body }) => {
      const { token, ...appUser } = createAppUser(ctx, body.name, requireCaller(c).id, body.forms ?? null);
      const base = openRosaBase(ctx, c);
      const settings = collectSettings(base, appUser, token);
      return c.json(
        {
          appUser,
          token,
          serverUrl: `${base}/key/${token}`,
          collectSettings: settings,
          qrText: collectQrText(settings),
        },
        201,
      );
    },
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/app-users/{id}/revoke",
      operationId: "revokeAppUser",
      summary: "Revoke an app user: its token stops working at once",
      params: s.idParam,
      response: s.appUserOut,
      errors: [404],
    },
    (c, { params }) => c.json(revokeAppUser(ctx, params.id), 200),
  );
  jsonRoute(
    app,
    {
      method: "put",
      path: "/app-users/{id}/forms",
      operationId: "setAppUserForms",
      summary: "Set the forms an app user may see and submit (null: every form); applies at once",
      params: s.idParam,
      body: s.appUserFormsBody,
      response: s.appUserOut,
      errors: [404],
    },
    (c, { params, body }) => c.json(setAppUserForms(ctx, params.id, body.forms), 200),
  );
}
