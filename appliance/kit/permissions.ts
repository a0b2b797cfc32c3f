/**
 * Declared permissions. Each service declares the permissions its routes need, with a one-line description
 * and the built-in roles that hold each by default; identity composes the built-in roles from these
 * declarations (services/identity/builtin-roles.ts). `admin` holds `*` and is never named here.
 *
 * Invariants, checked by `checkPermissions` when a service is defined:
 * - a service declares only `<its name>:<thing>[:<verb>]`, no wildcards;
 * - every permission its access rules need is one it declares (or `*`): a typo fails at start, not in use.
 */
import type { AccessRule } from "./access.js";

/** The built-in roles a service may grant its permissions to (besides `admin`, which holds `*`). */
export const DEFAULT_ROLES = ["operator", "field-agent", "viewer"] as const;
export type DefaultRole = (typeof DEFAULT_ROLES)[number];

/** One permission: what it allows, and which built-in roles hold it by default. */
export interface PermissionDeclaration {
  description: string;
  roles: readonly DefaultRole[];
}

/** Permissions by name, e.g. `{ "files:read": { description, roles: ["viewer"] } }`. */
export type PermissionDeclarations = Readonly<Record<string, PermissionDeclaration>>;

const DECLARED = /^[a-z][a-z0-9-]*(:[a-z][a-z0-9-]*){1,3}$/;

/** Throws unless `owner` declares only its own, well-formed permissions and its rules need only those. */
export function checkPermissions(
  owner: string,
  declared: PermissionDeclarations,
  access: readonly AccessRule[],
): void {
  for (const [name, d] of Object.entries(declared)) {
    if (!DECLARED.test(name) || !name.startsWith(`${owner}:`))
      throw new Error(`${owner}: a service declares only its own permissions, "${owner}:<thing>": ${name}`);
    const bad = d.roles.filter((r) => !DEFAULT_ROLES.includes(r));
    if (bad.length) throw new Error(`${owner}: ${name} names roles that are not built in: ${bad.join(", ")}`);
  }
  for (const r of access) {
    const needed = typeof r.access === "object" ? r.access.permission : null;
    if (needed && needed !== "*" && !Object.hasOwn(declared, needed))
      throw new Error(`${owner}: access rule ${r.method} ${r.path} needs undeclared permission ${needed}`);
  }
}

/** Merges declarations of several owners; the same name declared twice must be declared alike. */
export function mergePermissions(all: readonly PermissionDeclarations[]): PermissionDeclarations {
  const out: Record<string, PermissionDeclaration> = {};
  for (const decls of all) {
    for (const [name, d] of Object.entries(decls)) {
      const seen = out[name];
      if (seen && JSON.stringify(seen) !== JSON.stringify(d))
        throw new Error(`permission ${name} is declared twice, differently`);
      out[name] = d;
    }
  }
  return out;
}
