/**
 * The built-in roles, composed from the permissions declared on the box (`ctx.permissions`: the gateway's and
 * every service's, see appliance/kit/permissions.ts), so identity names no other service's permission.
 *
 * - `admin` holds `*`.
 * - Any other built-in role holds what declarations give it. Holding every permission a service declares,
 *   all of the form `<service>:<thing>`, it gets `<service>:*` instead: it may grant that wildcard on (custom
 *   roles, API keys), and the sets read as they did when written out by hand.
 * - The rows are rewritten at every start, so a new service's permissions reach the roles it names.
 */
import {
  type Db,
  DEFAULT_ROLES,
  type DefaultRole,
  type PermissionDeclarations,
  type ServiceContext,
} from "../../appliance/kit/index.js";

type RoleName = "admin" | DefaultRole;

const DESCRIPTIONS: Record<RoleName, string> = {
  admin: "Everything, including users, roles and keys",
  operator: "Runs the box: services, settings and data; reads users, teams and the audit log",
  "field-agent": "Captures data in the field: reads and writes the services' data",
  viewer: "Reads, changes nothing",
};

export const BUILTIN_ROLE_NAMES: readonly string[] = ["admin", ...DEFAULT_ROLES];

export interface BuiltinRole {
  description: string;
  permissions: string[];
}

/** The built-in roles for these declarations. Pure. */
export function composeBuiltinRoles(declared: PermissionDeclarations): Record<RoleName, BuiltinRole> {
  const roles = { admin: { description: DESCRIPTIONS.admin, permissions: ["*"] } } as Record<
    RoleName,
    BuiltinRole
  >;
  for (const role of DEFAULT_ROLES)
    roles[role] = { description: DESCRIPTIONS[role], permissions: grantsOf(declared, role) };
  return roles;
}

/** What `role` holds of the declarations, a whole service's as `<service>:*`, sorted. */
function grantsOf(declared: PermissionDeclarations, role: DefaultRole): string[] {
  const byService = new Map<string, string[]>();
  for (const name of Object.keys(declared)) {
    const service = name.split(":")[0]!;
    byService.set(service, [...(byService.get(service) ?? []), name]);
  }
  const out: string[] = [];
  for (const [service, names] of byService) {
    const held = names.filter((n) => declared[n]!.roles.includes(role));
    const whole = held.length === names.length && names.every((n) => n.split(":").length === 2);
    out.push(...(whole ? [`${service}:*`] : held));
  }
  return out.sort();
}

/** Inserts or rewrites the built-in role rows; custom roles are left alone. Returns the changed names. */
export function writeBuiltinRoles(db: Db, roles: Record<string, BuiltinRole>): string[] {
  const before = db.prepare("SELECT description, permissions FROM roles WHERE name = ?");
  const upsert = db.prepare(
    `INSERT INTO roles (name, description, builtin, permissions, created_at) VALUES (?, ?, 1, ?, ?)
     ON CONFLICT (name) DO UPDATE SET description = excluded.description, permissions = excluded.permissions,
       builtin = 1`,
  );
  const changed: string[] = [];
  for (const [name, r] of Object.entries(roles)) {
    const row = before.get(name) as { description: string; permissions: string } | undefined;
    const permissions = JSON.stringify(r.permissions);
    if (row?.description === r.description && row.permissions === permissions) continue;
    upsert.run(name, r.description, permissions, new Date().toISOString());
    changed.push(name);
  }
  return changed;
}

/** At start: the built-in roles follow the permissions declared on this box. */
export function syncBuiltinRoles(ctx: ServiceContext<unknown>): void {
  const changed = ctx.tx(() => writeBuiltinRoles(ctx.db, composeBuiltinRoles(ctx.permissions)));
  if (changed.length) ctx.log.info({ roles: changed }, "built-in roles follow the declared permissions");
}
