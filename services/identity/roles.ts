/** Built-in and custom roles; a role is a named set of permissions. Built-in ones: builtin-roles.ts. */
import { ApiError, hasPermission, type ServiceContext } from "../../appliance/kit/index.js";
import type { IdentityConfig } from "./config.js";

type Ctx = ServiceContext<IdentityConfig>;

export const PERMISSION = /^(\*|[a-z*][a-z0-9-]*(:[a-z*][a-z0-9-]*){1,3})$/;

export interface Role {
  name: string;
  description: string;
  builtin: boolean;
  permissions: string[];
}

interface RoleRow {
  name: string;
  description: string;
  builtin: number;
  permissions: string;
}

const toRole = (r: RoleRow): Role => ({
  name: r.name,
  description: r.description,
  builtin: r.builtin === 1,
  permissions: JSON.parse(r.permissions),
});

export function listRoles(ctx: Ctx): Role[] {
  return (ctx.db.prepare("SELECT * FROM roles ORDER BY builtin DESC, name").all() as RoleRow[]).map(toRole);
}

export function getRole(ctx: Ctx, name: string): Role | undefined {
  const r = ctx.db.prepare("SELECT * FROM roles WHERE name = ?").get(name) as RoleRow | undefined;
  return r && toRole(r);
}

/** Every permission of the given roles. */
export function permissionsOfRoles(ctx: Ctx, roles: string[]): string[] {
  const out = new Set<string>();
  for (const name of roles) for (const p of getRole(ctx, name)?.permissions ?? []) out.add(p);
  return [...out];
}

/** Refuses to hand out what the granter does not hold themselves (no privilege escalation by delegation). */
export function assertCanGrant(granter: string[], permissions: string[]): void {
  const missing = permissions.filter((p) => !hasPermission(granter, p));
  if (missing.length) throw new ApiError(403, "you cannot grant permissions you do not have", { missing });
}

export function createRole(
  ctx: Ctx,
  role: { name: string; description: string; permissions: string[] },
): Role {
  if (getRole(ctx, role.name)) throw new ApiError(409, "a role with that name exists");
  ctx.db
    .prepare("INSERT INTO roles (name, description, builtin, permissions, created_at) VALUES (?, ?, 0, ?, ?)")
    .run(role.name, role.description, JSON.stringify(role.permissions), new Date().toISOString());
  return getRole(ctx, role.name)!;
}

export function updateRole(
  ctx: Ctx,
  name: string,
  patch: { description?: string; permissions?: string[] },
): Role {
  const role = getRole(ctx, name);
  if (!role) throw new ApiError(404, "no such role");
  if (role.builtin) throw new ApiError(409, "built-in roles cannot be changed");
  ctx.db
    .prepare("UPDATE roles SET description = ?, permissions = ? WHERE name = ?")
    .run(patch.description ?? role.description, JSON.stringify(patch.permissions ?? role.permissions), name);
  return getRole(ctx, name)!;
}

export function deleteRole(ctx: Ctx, name: string): void {
  const role = getRole(ctx, name);
  if (!role) throw new ApiError(404, "no such role");
  if (role.builtin) throw new ApiError(409, "built-in roles cannot be deleted");
  ctx.db.prepare("DELETE FROM roles WHERE name = ?").run(name);
}
