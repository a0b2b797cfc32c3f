/**
 * `GET/PUT /api/media/spaces/{space}/settings`: a space's photo settings (EXIF, GPS, GPS in share links),
 * the effective ones and the space's own overrides. `space` is `me`, `user:<id>`, `team:<id>` or
 * `form:<formId>`; reading needs the space, changing needs `media:write` and the space (`form:` spaces:
 * `forms:write` or an admin).
 */
import { z } from "@hono/zod-openapi";
import { ApiError, type Caller, hasPermission, jsonRoute, requireCaller } from "../../appliance/kit/index.js";
import type { Ctx } from "./jobs.js";
import { overridesOf, policyOf, SPACE_ID, setOverrides, spaceSettingsSchema } from "./space-settings.js";

const choice = z.enum(["keep", "strip"]);
const params = z.object({ space: z.string().max(140) });
const response = z.object({
  space: z.string(),
  effective: z.object({ exif: choice, gps: choice, shareLinkGps: choice }),
  overrides: z.object({ exif: choice.optional(), gps: choice.optional(), shareLinkGps: choice.optional() }),
});

export function settingsRoutes(
  app: Parameters<typeof jsonRoute>[0],
  ctx: Ctx,
  mayUse: (c: Caller, space: string) => boolean,
) {
  const spaceOf = (caller: Caller, raw: string, write: boolean) => {
    const space = raw === "me" ? `user:${caller.id}` : raw;
    if (!SPACE_ID.test(space))
      throw new ApiError(400, "space: 'me', 'user:<id>', 'team:<id>' or 'form:<formId>'");
    if (!mayUse(caller, space)) throw new ApiError(403, "you have no access to this space", { space });
    const admin = hasPermission(caller.permissions, "media:admin");
    if (write && space.startsWith("form:") && !admin && !hasPermission(caller.permissions, "forms:write"))
      throw new ApiError(403, "changing a form's media settings needs forms:write", { space });
    return space;
  };
  const answer = (space: string) => ({
    space,
    effective: policyOf(ctx, space),
    overrides: overridesOf(ctx, space),
  });

  jsonRoute(
    app,
    {
      method: "get",
      path: "/spaces/{space}/settings",
      operationId: "getSpaceMediaSettings",
      summary: "A space's photo settings (EXIF, GPS, GPS in share links): effective and overridden",
      params,
      response,
      errors: [403],
    },
    (c, { params: p }) => c.json(answer(spaceOf(requireCaller(c), p.space, false)), 200),
  );

  jsonRoute(
    app,
    {
      method: "put",
      path: "/spaces/{space}/settings",
      operationId: "setSpaceMediaSettings",
      summary: "Set a space's photo overrides ({} returns to the box defaults); applies to later jobs",
      params,
      body: spaceSettingsSchema,
      response,
      errors: [403],
    },
    (c, { params: p, body }) => {
      const space = spaceOf(requireCaller(c), p.space, true);
      setOverrides(ctx, space, body);
      return c.json(answer(space), 200);
    },
  );
}
