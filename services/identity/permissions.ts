/** Identity's permissions and the built-in roles that hold them by default (admin holds `*`). */
import type { PermissionDeclarations } from "../../appliance/kit/index.js";

export const permissions = {
  "identity:users:read": { description: "List users, their roles and sessions", roles: ["operator"] },
  "identity:users:write": {
    description: "Create, change, disable, unlock, reset and delete users (never above one's own rights)",
    roles: [],
  },
  "identity:sessions:write": { description: "End other users' sessions", roles: [] },
  "identity:roles:read": { description: "List roles and the permission catalogue", roles: [] },
  "identity:roles:write": {
    description: "Create, change and delete custom roles (never above one's own rights)",
    roles: [],
  },
  "identity:teams:read": { description: "List teams and their members", roles: ["operator"] },
  "identity:teams:write": {
    description: "Create teams; manage the members of, and delete, one's own teams",
    roles: [],
  },
  "identity:keys:read": { description: "List every user's API keys", roles: [] },
  "identity:keys:write": { description: "Revoke any user's API keys", roles: [] },
  "identity:audit:read": { description: "Read the security audit log", roles: ["operator"] },
  "identity:signing:read": { description: "List the token signing keys", roles: [] },
  "identity:signing:write": { description: "Rotate the token signing key", roles: [] },
} satisfies PermissionDeclarations;
