/**
 * Pipeline hooks on the files service's events (durable JetStream consumers; a failure is redelivered): a new or
 * new-version file's name goes into the semantic index (kind `file-name`, id `file:<nodeId>`), a deleted file
 * leaves it. Each document records the file's space, so a search shows it only to who may read that space
 * (search-access.ts). Images and audio are analysed too (analyse.ts): OCR text and speech segments as file metadata;
 * forms submissions' image and audio attachments the same way (forms-analyse.ts).
 */
import type { CloudEvent, Subscription } from "../../appliance/kit/index.js";
import { analyseUpload, type UploadEvent } from "./analyse.js";
import { indexDocument, unindexDocument } from "./embed.js";
import { analyseSubmission } from "./forms-analyse.js";
import type { Ctx } from "./models.js";
import { embed } from "./routes-search.js";
import { aiOf } from "./state.js";

interface FileEvent {
  nodeId: string;
  space: string;
  path: string;
}

/** Words of a file's path: "/reports/2026/pump-repair_b.pdf" → "reports 2026 pump repair b pdf". */
export function fileNameText(path: string): string {
  return path
    .split(/[/\\._-]+/)
    .filter(Boolean)
    .join(" ");
}

async function indexFileName(ctx: Ctx, e: FileEvent): Promise<void> {
  const text = fileNameText(e.path);
  if (!text || !e.nodeId || typeof e.space !== "string") return;
  const [vector] = await embed(ctx, aiOf(ctx), [text]);
  const owner = { type: "files-space" as const, id: e.space };
  indexDocument(
    ctx,
    { id: `file:${e.nodeId}`, kind: "file-name", text: e.path, owner },
    vector as Float32Array,
  );
}

/** The AI service's subscriptions. */
export function aiSubscriptions(ctx: Ctx): Subscription[] {
  const onVersion = (e: CloudEvent) => indexFileName(ctx, e.data as FileEvent);
  const analyse = (e: CloudEvent) => analyseUpload(ctx, e.data as UploadEvent);
  return [
    // Names and content separately: a full OCR queue (redelivered) does not hold up indexing the name.
    { name: "files-uploaded", subject: "nexus.files.uploaded", handler: onVersion },
    { name: "files-versioned", subject: "nexus.files.versioned", handler: onVersion },
    { name: "files-analyse-uploaded", subject: "nexus.files.uploaded", handler: analyse },
    { name: "files-analyse-versioned", subject: "nexus.files.versioned", handler: analyse },
    {
      name: "forms-analyse-submitted",
      subject: "nexus.forms.submitted",
      handler: async (e) => void (await analyseSubmission(ctx, e)),
    },
    {
      name: "files-deleted",
      subject: "nexus.files.deleted",
      handler: (event) => {
        const { nodeId } = event.data as FileEvent;
        unindexDocument(ctx, `file:${nodeId}`);
        unindexDocument(ctx, `file-ocr:${nodeId}`);
      },
    },
  ];
}
