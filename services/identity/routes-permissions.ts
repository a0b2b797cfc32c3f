/** The permission catalogue: what can be granted on this box, for whoever composes roles and API keys. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { hasPermission, jsonRoute, type ServiceContext } from "../../appliance/kit/index.js";
import { composeBuiltinRoles } from "./builtin-roles.js";

export interface CatalogueEntry {
  name: string;
  description: string;
  /** The built-in roles holding it (`admin` always: it holds `*`). */
  roles: string[];
}

/** Every permission declared on the box, by name, with the built-in roles that hold it. Pure. */
export function permissionCatalogue(ctx: Pick<ServiceContext<unknown>, "permissions">): CatalogueEntry[] {
  const roles = Object.entries(composeBuiltinRoles(ctx.permissions));
  return Object.entries(ctx.permissions)
    .map(([name, d]) => ({
      name,
      description: d.description,
      roles: roles.filter(([, r]) => hasPermission(r.permissions, name)).map(([role]) => role),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function permissionRoutes(app: OpenAPIHono, ctx: ServiceContext<unknown>) {
  jsonRoute(
    app,
    { method: "get", path: "/permissions", summary: "Every permission declared on the box" },
    (c) => c.json({ permissions: permissionCatalogue(ctx) }, 200),
  );
}
