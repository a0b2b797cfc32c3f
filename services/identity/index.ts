/**
 * The identity service: users, teams, roles and permissions, sessions, access tokens, API keys, MFA and the
 * security audit log. The gateway authenticates every request against it (see appliance/gateway/identity-auth.ts).
 */
import { defineService, rule } from "../../appliance/kit/index.js";
import { syncBuiltinRoles } from "./builtin-roles.js";
import { type IdentityConfig, identityConfigSchema } from "./config.js";
import { applyHubRole, applyHubUser } from "./hub-sync.js";
import { migrations } from "./migrations.js";
import { permissions } from "./permissions.js";
import { auditRoutes } from "./routes-audit.js";
import { internalRoutes } from "./routes-internal.js";
import { apiKeyRoutes, signingKeyRoutes } from "./routes-keys.js";
import { meRoutes } from "./routes-me.js";
import { myApiKeyRoutes } from "./routes-me-keys.js";
import { meSecurityRoutes } from "./routes-me-security.js";
import { permissionRoutes } from "./routes-permissions.js";
import { publicRoutes } from "./routes-public.js";
import { roleRoutes } from "./routes-roles.js";
import { teamRoutes } from "./routes-teams.js";
import { userRoutes } from "./routes-users.js";
import { ensureSigningKey } from "./signing.js";

export default defineService<IdentityConfig>({
  name: "identity",
  version: "0.1.0",
  description: "Users, teams, roles, sessions, access tokens, API keys, MFA and the audit log",
  configSchema: identityConfigSchema,
  migrations,
  permissions,
  access: [
    rule("POST", "/login", "public"),
    rule("GET", "/setup", "public"),
    rule("POST", "/setup", "public"),
    rule("GET", "/jwks", "public"),
    rule("*", "/me", "authenticated"),
    rule("*", "/me/*", "authenticated"),
    rule("POST", "/token", "authenticated"),
    rule("POST", "/logout", "authenticated"),
    rule("POST", "/logout-all", "authenticated"),
    rule("GET", "/users", "identity:users:read"),
    rule("GET", "/users/:id", "identity:users:read"),
    rule("GET", "/users/:id/sessions", "identity:users:read"),
    rule("DELETE", "/users/:id/sessions", "identity:sessions:write"),
    rule("*", "/users", "identity:users:write"),
    rule("*", "/users/*", "identity:users:write"),
    rule("GET", "/roles", "identity:roles:read"),
    rule("GET", "/permissions", "identity:roles:read"),
    rule("*", "/roles", "identity:roles:write"),
    rule("*", "/roles/*", "identity:roles:write"),
    rule("GET", "/teams", "identity:teams:read"),
    rule("*", "/teams", "identity:teams:write"),
    rule("*", "/teams/*", "identity:teams:write"),
    rule("GET", "/api-keys", "identity:keys:read"),
    rule("DELETE", "/api-keys/:id", "identity:keys:write"),
    rule("GET", "/audit", "identity:audit:read"),
    rule("GET", "/signing-keys", "identity:signing:read"),
    rule("POST", "/signing-keys/rotate", "identity:signing:write"),
  ],
  // Users and roles managed on the hub (see hub-sync.ts and docs/sync.md).
  syncApply: { roles: applyHubRole, users: applyHubUser },
  // Hono matches, and the served document lists, in registration order: keep this order.
  routes: (app, ctx) => {
    publicRoutes(app, ctx);
    meRoutes(app, ctx);
    meSecurityRoutes(app, ctx);
    myApiKeyRoutes(app, ctx);
    userRoutes(app, ctx);
    roleRoutes(app, ctx);
    teamRoutes(app, ctx);
    apiKeyRoutes(app, ctx);
    auditRoutes(app, ctx);
    signingKeyRoutes(app, ctx);
    internalRoutes(app, ctx);
    permissionRoutes(app, ctx);
  },
  onStart: (ctx) => {
    syncBuiltinRoles(ctx);
    ensureSigningKey(ctx);
  },
});
