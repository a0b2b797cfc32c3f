/**
 * The identity service: users, teams, roles and permissions, sessions, access tokens, API keys, MFA and the
 * security audit log. The gateway authenticates every request against it (see appliance/gateway/identity-auth.ts).
 */
import { defineService } from "../../appliance/kit/index.js";
import { syncBuiltinRoles } from "./builtin-roles.js";
import { type IdentityConfig, identityConfigSchema } from "./config.js";
import { applyHubRole, applyHubUser } from "./hub-sync.js";
import { migrations } from "./migrations.js";
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
import { manifest } from "./service-manifest.js";
import { ensureSigningKey } from "./signing.js";

export default defineService<IdentityConfig>({
  ...manifest,
  configSchema: identityConfigSchema,
  migrations,
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
