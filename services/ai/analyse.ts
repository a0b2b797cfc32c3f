/**
 * Uploaded files' content (pipeline hooks): an image gets OCR, moderation labels and (config `detectUploads`)
 * object and face detection, a PDF OCR of its pages, an
 * audio file speech segments (VAD). The result
 * goes back to the files service as the file's metadata (event `nexus.ai.file.analysed`, which files applies to
 * the version analysed only) and OCR text into the semantic index (kind `file-ocr`, id `file-ocr:<nodeId>`).
 * Content that is not decodable is answered with `ai.error` (not retried); anything else (a full queue, a store
 * outage) throws, so the durable consumer redelivers the event.
 */
import { join } from "node:path";
import type { BlobStore } from "../../appliance/lib/blob-store.js";
import { createBlobStore } from "../files/blob-store/index.js";
import { blobStoreConfig, filesConfigSchema } from "../files/config.js";
import { AudioError, decodeAudio } from "./audio.js";
import { detectionMetadata } from "./detect-metadata.js";
import { indexDocument } from "./embed.js";
import { decodeImage, ImageError, type Rgb } from "./image.js";
import { type Ctx, RegistryError } from "./models.js";
import { detect } from "./routes-detect.js";
import { moderate, ocr, ocrPdf, vad } from "./routes-infer.js";
import { embed } from "./routes-search.js";
import type { Owner } from "./search-access.js";
import { aiOf } from "./state.js";

/** What the files service says of a new file or version (its VersionEvent). */
export interface UploadEvent {
  nodeId: string;
  space: string;
  version: number;
  sha256: string;
  size: number;
  contentType: string;
  path: string;
}

/** Metadata values the files service accepts (strings up to 2048 characters). */
export type AiMetadata = Record<string, string | number>;
const MAX_TEXT = 2048;
const IMAGE = /^image\/(png|jpeg)$/;
const AUDIO = /^audio\//;
const PDF = /^application\/pdf$/;

const stores = new WeakMap<object, BlobStore>();

/** The files service's blob store, opened read-only-by-use (get only) as media does. */
function filesStore(ctx: Ctx): BlobStore {
  let s = stores.get(ctx);
  if (!s) {
    const files = filesConfigSchema.parse(ctx.config.sourceFiles);
    // ctx.dataDir is <data>/services/ai; files keeps its blobs in <data>/services/files/blobs by default.
    const root = files.blobRoot ?? join(ctx.dataDir, "..", "files", "blobs");
    s = createBlobStore({ ...blobStoreConfig(files), root }, ctx.dataDir);
    stores.set(ctx, s);
  }
  return s;
}

export async function readBlob(store: BlobStore, sha256: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.get(sha256)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Which analysis an upload gets, or null. */
export function analysisOf(e: UploadEvent, maxBytes: number): "ocr" | "pdf" | "vad" | null {
  if (!e?.nodeId || typeof e.space !== "string" || !e.sha256 || !(e.size > 0) || e.size > maxBytes)
    return null;
  if (IMAGE.test(e.contentType)) return "ocr";
  if (PDF.test(e.contentType)) return "pdf";
  if (AUDIO.test(e.contentType)) return "vad";
  return null;
}

/** Analyses one upload and emits the result; a no-op for files that get none. */
export async function analyseUpload(ctx: Ctx, e: UploadEvent): Promise<void> {
  if (!ctx.config.analyseUploads) return;
  const kind = analysisOf(e, ctx.config.analyseMaxBytes);
  if (!kind) return;
  const bytes = await readBlob(filesStore(ctx), e.sha256);
  const at: IndexAs = {
    id: `file-ocr:${e.nodeId}`,
    kind: "file-ocr",
    owner: { type: "files-space", id: e.space },
  };
  const metadata = await analyseContent(ctx, kind, bytes, at);
  ctx.tx(() => ctx.emit("file.analysed", { nodeId: e.nodeId, version: e.version, metadata }));
}

/** Where OCR text goes in the semantic index, and whose it is (who may find it). */
export interface IndexAs {
  id: string;
  kind: string;
  owner: Owner;
}

/** The `ai.*` metadata of content; undecodable content → `ai.error`, anything else throws (redelivery). */
export async function analyseContent(
  ctx: Ctx,
  kind: "ocr" | "pdf" | "vad",
  bytes: Buffer,
  at: IndexAs,
): Promise<AiMetadata> {
  try {
    if (kind === "ocr") return await ocrMetadata(ctx, at, bytes);
    if (kind === "pdf") return await pdfMetadata(ctx, at, bytes);
    return await vadMetadata(ctx, bytes);
  } catch (err) {
    if (!(err instanceof ImageError || err instanceof AudioError)) throw err;
    return { "ai.error": err.message.slice(0, MAX_TEXT) };
  }
}

/** Indexes OCR text (the first 4000 characters make its vector). */
async function indexText(ctx: Ctx, at: IndexAs, text: string): Promise<void> {
  if (!text.trim()) return;
  const [vector] = await embed(ctx, aiOf(ctx), [text.slice(0, 4000)]);
  indexDocument(ctx, { ...at, text }, vector as Float32Array);
}

const linesText = (lines: unknown[]) => (lines as { text: string }[]).map((l) => l.text).join("\n");

async function pdfMetadata(ctx: Ctx, at: IndexAs, bytes: Buffer): Promise<AiMetadata> {
  const { pages } = await ocrPdf(ctx, aiOf(ctx), bytes);
  const text = pages.map((p) => linesText(p.lines)).join("\n\n");
  await indexText(ctx, at, text);
  return {
    "ai.ocrText": text.slice(0, MAX_TEXT),
    "ai.ocrLines": pages.reduce((n, p) => n + p.lines.length, 0),
    "ai.ocrPages": pages.length,
  };
}

async function ocrMetadata(ctx: Ctx, at: IndexAs, bytes: Buffer): Promise<AiMetadata> {
  const image = await decodeImage(bytes, ctx.config.maxImagePixels);
  const { lines } = await ocr(ctx, aiOf(ctx), image);
  const { labels, flagged } = await moderate(ctx, aiOf(ctx), image);
  const text = linesText(lines);
  await indexText(ctx, at, text);
  return {
    "ai.ocrText": text.slice(0, MAX_TEXT),
    "ai.ocrLines": lines.length,
    "ai.moderation": labels[0]?.label ?? "",
    "ai.moderationScores": labels.map((l) => `${l.label} ${l.score.toFixed(3)}`).join(", "),
    "ai.flagged": flagged ? 1 : 0,
    ...(await detectionsOf(ctx, image)),
  };
}

/** `ai.objects` and `ai.faces`, or nothing when detection is off or its models are not installed. */
async function detectionsOf(ctx: Ctx, image: Rgb): Promise<AiMetadata> {
  if (!ctx.config.detectUploads) return {};
  try {
    return detectionMetadata(await detect(ctx, aiOf(ctx), image));
  } catch (err) {
    if (err instanceof RegistryError && err.status === 404) return {};
    throw err;
  }
}

async function vadMetadata(ctx: Ctx, bytes: Buffer): Promise<AiMetadata> {
  const samples = await decodeAudio(bytes, ctx.config.maxAudioSeconds);
  const { segments, durationMs } = await vad(ctx, aiOf(ctx), samples);
  const speechMs = segments.reduce((n, s) => n + s.endMs - s.startMs, 0);
  // As many segments as fit the metadata value's limit ("start-end" in ms, comma-separated).
  let list = "";
  for (const s of segments) {
    const item = `${list ? "," : ""}${s.startMs}-${s.endMs}`;
    if (list.length + item.length > MAX_TEXT) break;
    list += item;
  }
  return {
    "ai.speechSegments": segments.length,
    "ai.speechMs": speechMs,
    "ai.durationMs": durationMs,
    "ai.speech": list,
  };
}
