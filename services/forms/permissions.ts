/** The forms service's permissions and the built-in roles that hold them by default (admin holds `*`). */
import type { PermissionDeclarations } from "../../appliance/kit/index.js";

export const permissions = {
  "forms:read": {
    description: "See forms, their versions and attachments, and the submissions to them",
    roles: ["operator", "field-agent", "viewer"],
  },
  "forms:submit": {
    description:
      "Fill and submit forms as a console user (the web app at /collect/ signed in, not as an app user)",
    roles: ["operator", "field-agent"],
  },
  "forms:write": {
    description: "Upload XLSForms and XForms, publish and archive them, manage their attachments",
    roles: ["operator"],
  },
  "forms:review": {
    description: "Review submissions (approve, reject with a comment, edit as a new revision)",
    roles: ["operator"],
  },
  "forms:export": {
    description: "Export submissions as CSV, GeoJSON or a ZIP with their attachments",
    roles: ["operator"],
  },
  "forms:app-users": {
    description: "Create and revoke app users (per-device credentials for ODK Collect and other clients)",
    roles: ["operator"],
  },
} satisfies PermissionDeclarations;
