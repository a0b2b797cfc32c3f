/** The identity service's manifest: what the supervisor and the gateway read, as data (see appliance/kit/manifest.ts). */
import { rule } from "../../appliance/kit/access.js";
import type { ServiceManifest } from "../../appliance/kit/manifest.js";
import { permissions } from "./permissions.js";

export const manifest = {
  name: "identity",
  version: "0.1.0",
  description: "Users, teams, roles, sessions, access tokens, API keys, MFA and the audit log",
  dependsOn: [],
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
} satisfies ServiceManifest;
