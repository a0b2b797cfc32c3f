/**
 * Forms submissions' attachments (ODK photos, audio recordings) analysed like uploaded files: on
 * `nexus.forms.submitted` each PNG/JPEG attachment gets OCR and moderation labels, each audio one speech segments.
 * The bytes are read from the forms service's attachment store (its settings copied into `sourceForms` by the
 * appliance, as for media); OCR text goes into the semantic index (kind `form-ocr`, id
 * `form-ocr:<submissionId>/<name>`, owned by the form: found by holders of `forms:read`) and the result is emitted as `nexus.ai.attachment.analysed`
 * `{ submissionId, formId, name, sha256, metadata }`. A failure other than undecodable content is redelivered.
 */
import { join } from "node:path";
import type { CloudEvent } from "../../appliance/kit/index.js";
import { LocalBlobStore } from "../files/blob-store/index.js";
import { analyseContent, readBlob } from "./analyse.js";
import type { Ctx } from "./models.js";

interface Submitted {
  id?: string;
  formId?: string;
  attachments?: { name?: string; sha256?: string; size?: number }[];
}

const SHA = /^[0-9a-f]{64}$/;
const KIND: Record<string, "ocr" | "vad"> = {
  png: "ocr",
  jpg: "ocr",
  jpeg: "ocr",
  m4a: "vad",
  aac: "vad",
  amr: "vad",
  mp3: "vad",
  ogg: "vad",
  opus: "vad",
  wav: "vad",
};

/** The analysis an attachment's name implies, or null (CSV, XML, video…). */
export function attachmentAnalysis(name: string): "ocr" | "vad" | null {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? (KIND[name.slice(dot + 1).toLowerCase()] ?? null) : null;
}

const stores = new WeakMap<object, LocalBlobStore>();

/** The forms service's attachment store, read only. */
function formsStore(ctx: Ctx): LocalBlobStore {
  let s = stores.get(ctx);
  if (!s) {
    const raw = ctx.config.sourceForms.blobRoot;
    // ctx.dataDir is <data>/services/ai; forms keeps its blobs in <data>/services/forms/blobs by default.
    s = new LocalBlobStore(typeof raw === "string" && raw ? raw : join(ctx.dataDir, "..", "forms", "blobs"));
    stores.set(ctx, s);
  }
  return s;
}

/** Analyses each image and audio attachment of a submission; returns how many were analysed. */
export async function analyseSubmission(ctx: Ctx, e: CloudEvent): Promise<number> {
  if (!ctx.config.analyseUploads) return 0;
  const d = e.data as Submitted;
  if (!d?.id || !d.formId || !Array.isArray(d.attachments)) return 0;
  let done = 0;
  for (const a of d.attachments) {
    const size = Number(a?.size);
    if (!a?.name || !a.sha256 || !SHA.test(a.sha256) || !(size > 0) || size > ctx.config.analyseMaxBytes)
      continue;
    const kind = attachmentAnalysis(a.name);
    if (!kind) continue;
    const bytes = await readBlob(formsStore(ctx), a.sha256);
    const id = `form-ocr:${d.id}/${a.name}`;
    const owner = { type: "form" as const, id: d.formId };
    const metadata = await analyseContent(ctx, kind, bytes, { id, kind: "form-ocr", owner });
    const out = { submissionId: d.id, formId: d.formId, name: a.name, sha256: a.sha256, metadata };
    ctx.tx(() => ctx.emit("attachment.analysed", out));
    done++;
  }
  return done;
}
