/**
 * Route permissions. Every service declares, per route, the permission a caller needs; the gateway enforces
 * them before a request reaches the service (401 without credentials, 403 without the permission).
 * A route no rule matches needs `*` (admin): forgetting a rule fails closed.
 *
 * Permissions are `<service>:<thing>[:<verb>]`; a granted permission may use `*` for one segment, or be `*`
 * alone (everything).
 */

export type AccessLevel = "public" | "authenticated" | { permission: string };

export interface AccessRule {
  /** HTTP method, or `*` for any. */
  method: string;
  /** Path inside the service: `/users/:id`, `/files/*` (rest of path). */
  path: string;
  access: AccessLevel;
}

/** Shorthand for a rule. */
export function rule(method: string, path: string, access: AccessLevel | string): AccessRule {
  return {
    method,
    path,
    access:
      typeof access === "string" && access.includes(":") ? { permission: access } : (access as AccessLevel),
  };
}

function pathMatches(pattern: string, path: string): boolean {
  const p = pattern.split("/");
  const s = path.split("/");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "*") return true;
    if (i >= s.length) return false;
    if (p[i]!.startsWith(":")) {
      if (!s[i]) return false;
      continue;
    }
    if (p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

/** The first rule matching `method path`; the fail-closed default when none does. */
export function accessFor(rules: readonly AccessRule[], method: string, path: string): AccessLevel {
  const m = method.toUpperCase() === "HEAD" ? "GET" : method.toUpperCase();
  for (const r of rules) {
    if ((r.method === "*" || r.method.toUpperCase() === m) && pathMatches(r.path, path)) return r.access;
  }
  return { permission: "*" };
}

/** True when one of `granted` covers `needed`. */
export function hasPermission(granted: readonly string[], needed: string): boolean {
  const n = needed.split(":");
  return granted.some((g) => {
    if (g === "*") return true;
    const parts = g.split(":");
    if (parts.length !== n.length) return false;
    return parts.every((p, i) => p === "*" || p === n[i]);
  });
}
