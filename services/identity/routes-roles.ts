/** Admin routes for roles: the built-in ones listed, custom ones created, changed and deleted. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { jsonRoute, type ServiceContext } from "../../appliance/kit/index.js";
import { createRoleAs, deleteRoleAs, updateRoleAs } from "./admin-access.js";
import type { IdentityConfig } from "./config.js";
import { listRoles } from "./roles.js";
import { who } from "./route-caller.js";
import * as s from "./schemas.js";

type Ctx = ServiceContext<IdentityConfig>;
const roleParam = z.object({ name: s.roleName });

/** Registers the role routes. */
export function roleRoutes(app: OpenAPIHono, ctx: Ctx) {
  jsonRoute(
    app,
    {
      method: "get",
      path: "/roles",
      operationId: "listRoles",
      summary: "Built-in and custom roles",
      response: s.rolesOut,
    },
    (c) => c.json({ roles: listRoles(ctx) }, 200),
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/roles",
      operationId: "createRole",
      summary: "Create a custom role",
      body: s.roleBody,
      status: 201,
      response: s.roleOut,
      errors: [409],
    },
    (c, { body }) => c.json(createRoleAs(ctx, who(c), body), 201),
  );
  jsonRoute(
    app,
    {
      method: "patch",
      path: "/roles/{name}",
      operationId: "updateRole",
      summary: "Change a custom role",
      params: roleParam,
      body: s.patchRoleBody,
      response: s.roleOut,
      errors: [404, 409],
    },
    (c, { params, body }) => c.json(updateRoleAs(ctx, who(c), params.name, body), 200),
  );
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/roles/{name}",
      operationId: "deleteRole",
      summary: "Delete a custom role",
      params: roleParam,
      response: s.flag("deleted"),
      errors: [404, 409],
    },
    (c, { params }) => {
      deleteRoleAs(ctx, who(c), params.name);
      return c.json({ deleted: true }, 200);
    },
  );
}
