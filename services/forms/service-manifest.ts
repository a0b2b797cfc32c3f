/** The forms service's manifest: what the supervisor and the gateway read, as data (see appliance/kit/manifest.ts). */
import { rule } from "../../appliance/kit/access.js";
import type { ServiceManifest } from "../../appliance/kit/manifest.js";
import { permissions } from "./permissions.js";

/**
 * What the gateway (and the kit's body limit) let through to OpenRosa and upload routes: above the service's
 * default limits (100 MiB a submission POST or attachment), which it applies itself. A body is read in memory
 * (multipart attachments stream to temporary files; only the XML part is held in memory).
 */
const LARGE = { maxBodyBytes: 128 * 1024 ** 2 };

export const manifest = {
  name: "forms",
  version: "0.1.0",
  description: "Forms: XForms/XLSForm, OpenRosa for ODK Collect, submissions, review, exports",
  dependsOn: [],
  permissions,
  access: [
    // OpenRosa clients authenticate as app users, checked by the service (token in the URL, or HTTP Basic).
    rule("*", "/openrosa/*", "service", LARGE),
    // The same OpenRosa API for console users (the web app signed in with identity), authenticated by the gateway.
    rule("POST", "/me/openrosa/submission", "forms:submit", LARGE),
    rule("GET", "/me/openrosa/*", "forms:read"),
    rule("GET", "/forms", "forms:read"),
    rule("POST", "/forms", "forms:write", LARGE),
    rule("GET", "/forms/:formId", "forms:read"),
    rule("GET", "/forms/:formId/export.csv", "forms:export"),
    rule("GET", "/forms/:formId/export.geojson", "forms:export"),
    rule("GET", "/forms/:formId/export.zip", "forms:export"),
    rule("POST", "/forms/:formId/versions/:version/publish", "forms:write"),
    rule("POST", "/forms/:formId/versions/:version/archive", "forms:write"),
    rule("GET", "/forms/:formId/versions/:version/xform", "forms:read"),
    rule("GET", "/forms/:formId/versions/:version/attachments/:name", "forms:read"),
    rule("PUT", "/forms/:formId/versions/:version/attachments/:name", "forms:write", LARGE),
    rule("GET", "/submissions", "forms:read"),
    rule("GET", "/submissions/:id", "forms:read"),
    rule("GET", "/submissions/:id/attachments/:name", "forms:read"),
    rule("GET", "/submissions/:id/history", "forms:read"),
    rule("POST", "/submissions/:id/review", "forms:review"),
    rule("PUT", "/submissions/:id/xml", "forms:review"),
    rule("GET", "/counts", "forms:read"),
    rule("GET", "/app-users", "forms:app-users"),
    rule("POST", "/app-users", "forms:app-users"),
    rule("POST", "/app-users/:id/revoke", "forms:app-users"),
    rule("PUT", "/app-users/:id/forms", "forms:app-users"),
  ],
} satisfies ServiceManifest;
