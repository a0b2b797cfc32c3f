/** Request and answer schemas of the forms management API (zod; invalid input is a 400 before any handler). */
import { z } from "@hono/zod-openapi";

export const formParam = z.object({
  formId: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,99}$/, "malformed form id"),
});
/** A version in a path: `-` stands for the empty version string. */
export const versionParams = formParam.extend({ version: z.string().min(1).max(100) });
export const attachmentParams = versionParams.extend({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,199}$/, "malformed file name"),
});
export const idParam = z.object({ id: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "malformed id") });
export const subAttachmentParams = idParam.extend({ name: attachmentParams.shape.name });

export const uploadQuery = z.object({
  publish: z.enum(["true", "false"]).optional().openapi({ description: "publish the new version at once" }),
});

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}(T[0-9:.]+Z?)?$/, "an ISO date or dateTime (UTC)");
export const filterQuery = z.object({
  formId: formParam.shape.formId.optional(),
  version: z.string().max(100).optional(),
  from: isoDate.optional().openapi({ description: "received at or after (UTC)" }),
  to: isoDate.optional().openapi({ description: "received before (UTC)" }),
  reviewState: z.enum(["received", "approved", "rejected", "edited"]).optional(),
  site: z.string().max(64).optional(),
});
export const listQuery = filterQuery.extend({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
export const countsQuery = filterQuery.pick({ formId: true, from: true, to: true });

export const reviewBody = z
  .object({
    state: z.enum(["received", "approved", "rejected"]),
    comment: z.string().max(4000).optional(),
  })
  .strict();

const formIdList = z
  .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,99}$/, "a form id"))
  .max(1000)
  .nullable()
  .openapi({ description: "the forms it may use; null or absent: every published form" });

export const appUserBody = z
  .object({ name: z.string().trim().min(1).max(100), forms: formIdList.optional() })
  .strict();

export const appUserFormsBody = z.object({ forms: formIdList }).strict();

export const versionOut = z
  .object({
    formId: z.string(),
    version: z.string(),
    state: z.enum(["draft", "published", "archived"]),
    title: z.string(),
    hash: z.string(),
    source: z.enum(["xform", "xlsform"]),
    createdBy: z.string(),
    createdAt: z.string(),
    publishedAt: z.string().nullable(),
    archivedAt: z.string().nullable(),
    fieldCount: z.number().int(),
    attachments: z.array(z.object({ name: z.string(), uploaded: z.boolean() })),
  })
  .openapi("FormVersion");

export const formOut = z
  .object({
    id: z.string(),
    title: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    currentVersion: z.string().nullable(),
    state: z.enum(["draft", "published", "archived"]),
    submissions: z.number().int(),
    versions: z.array(versionOut),
  })
  .openapi("Form");

export const uploadOut = z.object({
  form: formOut,
  version: versionOut,
  created: z.boolean(),
  warnings: z.array(z.string()),
});

export const formAttachmentOut = z
  .object({
    name: z.string(),
    sha256: z.string(),
    md5: z.string(),
    size: z.number().int(),
    contentType: z.string(),
  })
  .openapi("FormAttachment");

export const submissionOut = z
  .object({
    id: z.string(),
    formId: z.string(),
    version: z.string(),
    instanceId: z.string(),
    instanceName: z.string().nullable(),
    submitter: z.string(),
    site: z.string(),
    receivedAt: z.string(),
    updatedAt: z.string(),
    complete: z.boolean(),
    reviewState: z.string(),
    reviewComment: z.string().nullable(),
    revision: z.number().int(),
    fields: z.record(z.string(), z.string()),
    attachments: z.array(
      z.object({
        name: z.string(),
        present: z.boolean(),
        size: z.number().int().nullable(),
        contentType: z.string().nullable(),
        ai: z
          .record(z.string(), z.union([z.string(), z.number()]))
          .nullable()
          .openapi({
            description:
              "What the AI service found in the attachment (ai.ocrText, ai.moderation, ai.objects, ai.faces, ai.speech…); null until analysed or for kinds it does not analyse",
          }),
      }),
    ),
    xml: z.string().optional(),
  })
  .openapi("Submission");

export const historyOut = z.object({
  reviews: z.array(
    z.object({ state: z.string(), comment: z.string().nullable(), by: z.string(), at: z.string() }),
  ),
  revisions: z.array(
    z.object({ revision: z.number().int(), xml: z.string(), createdBy: z.string(), createdAt: z.string() }),
  ),
});

export const appUserOut = z
  .object({
    id: z.string(),
    name: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
    forms: z.array(z.string()).nullable(),
  })
  .openapi("AppUser");

export const appUserCreatedOut = z.object({
  appUser: appUserOut,
  token: z.string().openapi({ description: "shown once; only its hash is stored" }),
  serverUrl: z.string().openapi({ description: "the URL to give ODK Collect (the token is in it)" }),
  collectSettings: z.record(z.string(), z.unknown()).openapi({ description: "ODK Collect's settings JSON" }),
  qrText: z.string().openapi({
    description: "what to draw as the QR code Collect scans (the settings JSON, zlib-deflated, base64)",
  }),
});
