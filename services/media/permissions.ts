/** The media service's permissions and the built-in roles that hold them by default (admin holds `*`). */
import type { PermissionDeclarations } from "../../appliance/kit/index.js";

export const permissions = {
  "media:read": {
    description: "See media jobs and play or view the renditions of files in one's spaces",
    roles: ["operator", "field-agent", "viewer"],
  },
  "media:write": {
    description: "Start and cancel media jobs on files in one's spaces",
    roles: ["operator", "field-agent"],
  },
  "media:admin": { description: "Media jobs of every space", roles: ["operator"] },
} satisfies PermissionDeclarations;
