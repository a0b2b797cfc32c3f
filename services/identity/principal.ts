/** The shape the gateway forwards to services as `x-nexus-principal`. */
import { hasPermission, type ServiceContext } from "../../appliance/kit/index.js";
import type { IdentityConfig } from "./config.js";
import { teamsOf } from "./teams.js";
import { permissionsOf, rolesOf, type UserRow } from "./users.js";

export interface IdentityPrincipal {
  id: string;
  username: string;
  roles: string[];
  permissions: string[];
  /** Ids of the teams the user belongs to (team spaces and sharing in other services). */
  teams: string[];
  via: "session" | "token" | "api-key";
  sid?: string;
  /** Session logins only: the CSRF token the gateway checks on state-changing requests. */
  csrf?: string;
}

export function principalFor(
  ctx: ServiceContext<IdentityConfig>,
  user: UserRow,
  via: IdentityPrincipal["via"],
  extra: { sid?: string; csrf?: string; scope?: string[] } = {},
): IdentityPrincipal {
  // Until a reset password is changed, the account may only act on itself (`/me/*`, token, logout):
  // no permissions, so every permission-guarded route answers 403. POST /token afterwards gives full rights.
  const restricted = user.must_change_password === 1;
  const permissions = restricted ? [] : permissionsOf(ctx, user.id);
  return {
    id: user.id,
    username: user.username,
    roles: restricted ? [] : rolesOf(ctx, user.id),
    permissions: extra.scope ? intersect(extra.scope, permissions) : permissions,
    teams: restricted ? [] : teamsOf(ctx, user.id),
    via,
    ...(extra.sid ? { sid: extra.sid } : {}),
    ...(extra.csrf ? { csrf: extra.csrf } : {}),
  };
}

/**
 * Scope ∩ owner's permissions: an API key never grants more than its owner holds today. Uses the gateway's
 * own matcher: a prefix test let an owner's `identity:*` (one segment) keep a key's `identity:users:write`.
 */
function intersect(scope: string[], owner: string[]): string[] {
  return scope.filter((p) => hasPermission(owner, p));
}
