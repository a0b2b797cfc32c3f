/** The files service's permissions and the built-in roles that hold them by default (admin holds `*`). */
import type { PermissionDeclarations } from "../../appliance/kit/index.js";

export const permissions = {
  "files:read": {
    description: "List, download and look into the files, versions, trash and shares of one's spaces",
    roles: ["operator", "field-agent", "viewer"],
  },
  "files:write": {
    description: "Upload, change, move, delete, restore and share files in one's spaces",
    roles: ["operator", "field-agent"],
  },
  "files:admin": {
    description: "Every space (every team's too) and quotas",
    roles: ["operator"],
  },
} satisfies PermissionDeclarations;
