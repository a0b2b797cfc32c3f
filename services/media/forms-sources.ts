/**
 * Forms submissions' attachments (ODK photos, audio, video) go through media too: on `nexus.forms.submitted`
 * each attachment whose name says it is media becomes a source of origin `forms` (node id
 * `<submissionId>/<name>`, version 1, space `form:<formId>`) and a bulk job. The bytes stay in the forms
 * service's blob store, which media opens read-only, like files'.
 */
import { join } from "node:path";
import type { CloudEvent } from "../../appliance/kit/index.js";
import { LocalBlobStore } from "../files/blob-store/index.js";
import { type Ctx, enqueue, PRIORITY, recordSource } from "./jobs.js";

/** Attachment extensions media processes, with the content type recorded for them. */
const TYPES: Record<string, string> = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  heic: "image/heic",
  mp4: "video/mp4",
  mov: "video/quicktime",
  "3gp": "video/3gpp",
  webm: "video/webm",
  mkv: "video/x-matroska",
  m4a: "audio/mp4",
  aac: "audio/aac",
  amr: "audio/amr",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  opus: "audio/ogg",
  wav: "audio/wav",
};

/** The media content type an attachment's name implies; null for anything else (CSV, XML, ...). */
export function mediaTypeOfName(name: string): string | null {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? (TYPES[name.slice(dot + 1).toLowerCase()] ?? null) : null;
}

/** The space a form's attachments belong to (seen by whoever may read the form's submissions). */
export const formSpace = (formId: string) => `form:${formId}`;

interface Submitted {
  id?: string;
  formId?: string;
  submitter?: string;
  attachments?: { name?: string; sha256?: string; size?: number }[];
}

const SHA = /^[0-9a-f]{64}$/;

/** Records each media attachment of a submission and queues a bulk job for it. Returns how many. */
export function onSubmitted(ctx: Ctx, e: CloudEvent, wake: () => void): number {
  const d = e.data as Submitted;
  if (!d?.id || !d.formId || !Array.isArray(d.attachments)) return 0;
  let queued = 0;
  for (const a of d.attachments) {
    if (!a?.name || !a.sha256 || !SHA.test(a.sha256) || !(Number(a.size) > 0)) continue;
    const type = mediaTypeOfName(a.name);
    if (!type) continue;
    const src = {
      node_id: `${d.id}/${a.name}`,
      version: 1,
      sha256: a.sha256,
      space: formSpace(d.formId),
      path: `/${d.formId}/${d.id}/${a.name}`,
      content_type: type,
      size: Number(a.size),
      origin: "forms" as const,
    };
    recordSource(ctx, src);
    // The event may come twice (outbox redelivery): one job per attachment unless the last one failed.
    const had = ctx.db
      .prepare("SELECT 1 FROM jobs WHERE node_id = ? AND state NOT IN ('failed', 'cancelled') LIMIT 1")
      .get(src.node_id);
    if (ctx.config.autoProcess && !had) {
      enqueue(ctx, src, PRIORITY.bulk, d.submitter || "forms");
      queued++;
    }
  }
  if (queued) wake();
  return queued;
}

/** The forms service's attachment store (its settings are copied into `sourceForms` by the appliance). */
export function formsStore(ctx: Ctx): { store: LocalBlobStore; root: string } {
  const raw = ctx.config.sourceForms.blobRoot;
  const root = typeof raw === "string" && raw ? raw : join(ctx.dataDir, "..", "forms", "blobs");
  return { store: new LocalBlobStore(root), root };
}
