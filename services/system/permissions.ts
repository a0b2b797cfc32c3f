/** The system service's permissions and the built-in roles that hold them by default (admin holds `*`). */
import type { PermissionDeclarations } from "../../appliance/kit/index.js";

export const permissions = {
  "system:read": {
    description: "Read the box's facts (host, CPU, memory, disk, uptime, clock) and settings",
    roles: ["operator", "field-agent", "viewer"],
  },
  "system:write": { description: "Change and remove the box's settings", roles: ["operator"] },
} satisfies PermissionDeclarations;
