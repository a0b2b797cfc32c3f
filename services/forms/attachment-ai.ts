/**
 * What the AI service found in a submission's attachments (`nexus.ai.attachment.analysed`: OCR text,
 * moderation, objects and faces, speech segments), stored with the submission in `submission_attachment_ai` and
 * shown as each attachment's `ai`. A result is kept only for the attachment's current content (its sha256), so a
 * late result for content replaced since is dropped; a malformed event is logged and dropped (not redelivered).
 */
import { z } from "zod";
import type { Subscription } from "../../appliance/kit/index.js";
import { type Ctx, now } from "./state.js";

export type AiMetadata = Record<string, string | number>;

const analysed = z.object({
  submissionId: z.string().min(1).max(64),
  formId: z.string().min(1).max(256),
  name: z.string().min(1).max(255),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  metadata: z
    .record(z.string().regex(/^ai\.[A-Za-z0-9]{1,60}$/), z.union([z.string().max(2048), z.number()]))
    .refine((m) => Object.keys(m).length <= 16, "at most 16 ai.* keys"),
});

/** The event's data when well-formed, else null. */
export function parseAnalysed(data: unknown): z.infer<typeof analysed> | null {
  const r = analysed.safeParse(data);
  return r.success ? r.data : null;
}

/** Stores an analysis with its attachment; false when dropped (malformed, unknown, or other content). */
export function applyAttachmentAi(ctx: Ctx, data: unknown): boolean {
  const e = parseAnalysed(data);
  if (!e) {
    ctx.log.warn("ignored a malformed ai.attachment.analysed event");
    return false;
  }
  return ctx.tx(() => {
    const row = ctx.db
      .prepare(
        `SELECT a.sha256 FROM submission_attachments a JOIN submissions s ON s.id = a.submission_id
         WHERE a.submission_id = ? AND a.name = ? AND s.form_id = ?`,
      )
      .get(e.submissionId, e.name, e.formId) as { sha256: string } | undefined;
    if (!row || row.sha256 !== e.sha256) return false;
    ctx.db
      .prepare(
        `INSERT INTO submission_attachment_ai (submission_id, name, sha256, metadata, analysed_at)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (submission_id, name) DO UPDATE SET sha256 = excluded.sha256, metadata = excluded.metadata,
           analysed_at = excluded.analysed_at`,
      )
      .run(e.submissionId, e.name, e.sha256, JSON.stringify(e.metadata), now());
    return true;
  });
}

/** A submission's stored analyses by attachment name (only those for the attachment's current content). */
export function attachmentAiOf(ctx: Ctx, submissionId: string): Map<string, AiMetadata> {
  const rows = ctx.db
    .prepare(
      `SELECT x.name, x.metadata FROM submission_attachment_ai x
       JOIN submission_attachments a ON a.submission_id = x.submission_id AND a.name = x.name AND a.sha256 = x.sha256
       WHERE x.submission_id = ?`,
    )
    .all(submissionId) as { name: string; metadata: string }[];
  return new Map(rows.map((r) => [r.name, JSON.parse(r.metadata) as AiMetadata]));
}

/** The forms service's subscription to the AI service's results. */
export function attachmentAiSubscriptions(ctx: Ctx): Subscription[] {
  return [
    {
      name: "ai-attachment-analysed",
      subject: "nexus.ai.attachment.analysed",
      handler: (event) => void applyAttachmentAi(ctx, event.data),
    },
  ];
}
