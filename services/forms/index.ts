/**
 * The forms service: XForms (uploaded as XForm XML or converted from XLSForm) with versions draft → published
 * → archived, form attachments, the OpenRosa API for ODK Collect and Enketo-style clients (form list,
 * manifest, submissions merged by instanceID, per-device app users), submission review with revisions, and
 * exports. Events `nexus.forms.submitted` and `nexus.forms.reviewed` go through the outbox.
 */
import { defineService } from "../../appliance/kit/index.js";
import { attachmentAiSubscriptions } from "./attachment-ai.js";
import { type FormsConfig, formsConfigSchema } from "./config.js";
import { startHubFormMedia } from "./hub-form-media.js";
import { applyHubForm } from "./hub-forms.js";
import { hubLinkOf, startAttachmentMover } from "./hub-sync.js";
import { migrations } from "./migrations.js";
import { appUserRoutes } from "./routes-app-users.js";
import { exportRoutes } from "./routes-exports.js";
import { formRoutes } from "./routes-forms.js";
import { openRosaRoutes } from "./routes-openrosa.js";
import { submissionRoutes } from "./routes-submissions.js";
import { manifest } from "./service-manifest.js";
import { formsOf, startForms } from "./state.js";

export default defineService<FormsConfig>({
  ...manifest,
  configSchema: formsConfigSchema,
  migrations,
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
