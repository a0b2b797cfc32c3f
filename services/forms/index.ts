/**
 * The forms service: XForms (uploaded as XForm XML or converted from XLSForm) with versions draft → published
 * → archived, form attachments, the OpenRosa API for ODK Collect and Enketo-style clients (form list,
 * manifest, submissions merged by instanceID, per-device app users), submission review with revisions, and
 * exports. Events `nexus.forms.submitted` and `nexus.forms.reviewed` go through the outbox.
 */
import { defineService, rule } from "../../appliance/kit/index.js";
import { attachmentAiSubscriptions } from "./attachment-ai.js";
import { type FormsConfig, formsConfigSchema } from "./config.js";
import { startHubFormMedia } from "./hub-form-media.js";
import { applyHubForm } from "./hub-forms.js";
import { hubLinkOf, startAttachmentMover } from "./hub-sync.js";
import { migrations } from "./migrations.js";
import { permissions } from "./permissions.js";
import { appUserRoutes } from "./routes-app-users.js";
import { exportRoutes } from "./routes-exports.js";
import { formRoutes } from "./routes-forms.js";
import { openRosaRoutes } from "./routes-openrosa.js";
import { submissionRoutes } from "./routes-submissions.js";
import { formsOf, startForms } from "./state.js";

/**
 * What the gateway (and the kit's body limit) let through to OpenRosa and upload routes: above the service's
 * default limits (100 MiB a submission POST or attachment), which it applies itself. A body is read in memory
 * (multipart attachments stream to temporary files; only the XML part is held in memory).
 */
const LARGE = { maxBodyBytes: 128 * 1024 ** 2 };

export default defineService<FormsConfig>({
  name: "forms",
  version: "0.1.0",
  description: "Forms: XForms/XLSForm, OpenRosa for ODK Collect, submissions, review, exports",
  configSchema: formsConfigSchema,
  permissions,
  migrations,
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
  // Form definitions managed on the hub: `PUT /api/hub/data/forms/forms/<formId>:<version>` `{ data: { xml, state } }`.
  syncApply: { forms: applyHubForm },
  subscriptions: (ctx) => attachmentAiSubscriptions(ctx),
  routes: (app, ctx) => {
    openRosaRoutes(app, ctx);
    formRoutes(app, ctx);
    submissionRoutes(app, ctx);
    exportRoutes(app, ctx);
    appUserRoutes(app, ctx);
  },
  onStart: async (ctx) => {
    const f = await startForms(ctx);
    const link = hubLinkOf(ctx);
    if (link) {
      startAttachmentMover(ctx, f, link);
      startHubFormMedia(ctx, f, link);
    }
  },
  health: async (ctx) =>
    (await formsOf(ctx)
      .store.stat("0".repeat(64))
      .then(
        () => true,
        () => false,
      ))
      ? { ok: true }
      : { ok: false, reason: "attachment store unreachable" },
});
