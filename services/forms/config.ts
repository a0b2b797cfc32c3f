/** Forms settings (env `NEXUS_FORMS_<KEY>`, or `serviceConfig.forms` in the profile / config.json). */
import { z } from "zod";

const MiB = 1024 ** 2;

export const formsConfigSchema = z.object({
  /** Where form and submission attachments live (default <data>/services/forms/blobs). */
  blobRoot: z.string().min(1).optional(),
  /** Largest XForm or XLSForm upload. */
  maxFormBytes: z
    .number()
    .int()
    .positive()
    .default(10 * MiB),
  /** Largest form attachment (media, CSV). */
  maxAttachmentBytes: z
    .number()
    .int()
    .positive()
    .default(100 * MiB),
  /** Largest OpenRosa submission POST (XML + attachments); clients split bigger ones (OpenRosa's 10 MB default). */
  maxSubmissionBytes: z
    .number()
    .int()
    .positive()
    .default(100 * MiB),
  /** Told to clients as X-OpenRosa-Accept-Content-Length. */
  acceptContentLength: z
    .number()
    .int()
    .positive()
    .default(10 * MiB),
  /** Most instances of one repeat in a submission, and most elements in one. */
  maxRepeats: z.number().int().positive().default(1000),
  maxElements: z.number().int().positive().default(50_000),
  /** The server URL put in Collect's QR settings when the request's own Host cannot be trusted. */
  publicUrl: z.string().url().optional(),
});

export type FormsConfig = z.infer<typeof formsConfigSchema>;
