/** HTTP for running models: generic inference, OCR and voice activity. Thin: input checks, then run.ts and the pool. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import { ApiError, documentRoute, errorBody } from "../../appliance/kit/index.js";
import { AudioError, decodeAudio } from "./audio.js";
import { answer } from "./errors.js";
import { decodeImage, ImageError } from "./image.js";
import { feedsFor, inferBody, outputsJson, TensorError } from "./infer.js";
import type { WireTensor } from "./jobs.js";
import { MODEL_NAME } from "./manifest.js";
import { type Ctx, localFile } from "./models.js";
import type { Moderation } from "./moderate.js";
import { isPdf, pdfPages } from "./pdf.js";
import { entryOf, runJob } from "./run.js";
import type { AiState } from "./state.js";

export const MODERATION_MODEL = "nsfw-mobilenet-v2";

/** Largest image body accepted (its pixels are checked separately). */
export const MAX_IMAGE_BYTES = 64 * 1024 * 1024;
const MAX_AUDIO_BYTES = 256 * 1024 * 1024;

export async function bodyBytes(req: Request, max: number): Promise<Buffer> {
  const len = Number(req.headers.get("content-length") ?? 0);
  if (len > max) throw new ApiError(413, `body is over ${max} bytes`);
  const b = Buffer.from(await req.arrayBuffer());
  if (b.length > max) throw new ApiError(413, `body is over ${max} bytes`);
  return b;
}

const apiError = (err: unknown): never => {
  throw err instanceof ImageError ? new ApiError(err.status, err.message) : err;
};

/** PNG or JPEG bytes, decoded (400 when they are none, 413 over the pixel limit). */
export async function decodeBody(ctx: Ctx, bytes: Buffer) {
  if (bytes.length === 0) throw new ApiError(400, "empty body: send a PNG or JPEG image");
  return decodeImage(bytes, ctx.config.maxImagePixels).catch(apiError);
}

/** A request's PNG or JPEG body, decoded. */
async function imageBody(ctx: Ctx, req: Request) {
  return decodeBody(ctx, await bodyBytes(req, MAX_IMAGE_BYTES));
}

/** OCR of each page of a PDF (the first `maxPdfPages`); throws ImageError. */
export async function ocrPdf(ctx: Ctx, s: AiState, pdf: Buffer) {
  const pngs = await pdfPages(pdf, {
    maxPages: ctx.config.maxPdfPages,
    timeoutMs: ctx.config.requestTimeoutMs,
  });
  const pages = [];
  for (const [i, png] of pngs.entries()) {
    const image = await decodeImage(png, ctx.config.maxImagePixels);
    pages.push({ page: i + 1, ...(await ocr(ctx, s, image)) });
  }
  return { pages, maxPages: ctx.config.maxPdfPages };
}

/** Mounts /infer/{model}, /ocr and /moderate. */
export function inferRoutes(app: OpenAPIHono, ctx: Ctx, ai: () => AiState) {
  documentRoute(app, {
    method: "post",
    path: "/infer/{model}",
    operationId: "infer",
    summary: "Run a model on named tensors ({ inputs: { name: { shape, data } } }) → its outputs",
    request: {
      params: z.object({ model: z.string() }),
      body: { content: { "application/json": { schema: inferBody } } },
    },
    responses: { 200: { description: "outputs", content: { "application/json": { schema: z.object({}) } } } },
    errors: [404, 429, 503],
  });
  app.post("/infer/:model", (c) =>
    answer(c, async () => {
      const name = c.req.param("model");
      if (!MODEL_NAME.test(name)) throw new ApiError(400, "not a model name");
      let raw: unknown;
      try {
        raw = await c.req.json();
      } catch {
        throw new ApiError(400, "body must be JSON: { inputs: { <name>: { shape, data } } }");
      }
      const parsed = inferBody.safeParse(raw);
      if (!parsed.success)
        return c.json(errorBody(400, "invalid inference request", { issues: parsed.error.issues }), 400);
      const s = ai();
      const { model, path } = await entryOf(ctx, s, name);
      if (model.runtime !== "onnx")
        throw new ApiError(400, `model ${name} runs on ${model.runtime}, not onnx`);
      let feeds: Record<string, WireTensor>;
      try {
        feeds = feedsFor(model.manifest, parsed.data);
      } catch (err) {
        if (err instanceof TensorError) throw new ApiError(400, err.message);
        throw err;
      }
      const out = await runJob(ctx, s, name, model.size, { kind: "infer", path, feeds }, { [path]: name });
      return c.json({ model: name, outputs: outputsJson(out as Record<string, WireTensor>) }, 200);
    }),
  );
  documentRoute(app, {
    method: "post",
    path: "/ocr",
    operationId: "ocr",
    summary:
      "Text in an image (PNG or JPEG body) → lines with text, box and confidence; a PDF body → the same per page",
    request: { body: { content: { "image/*": { schema: { type: "string", format: "binary" } } } } },
    responses: { 200: { description: "lines", content: { "application/json": { schema: z.object({}) } } } },
    errors: [404, 413, 429, 501, 503],
  });
  app.post("/ocr", (c) =>
    answer(c, async () => {
      const bytes = await bodyBytes(c.req.raw, MAX_IMAGE_BYTES);
      if (isPdf(bytes)) return c.json(await ocrPdf(ctx, ai(), bytes).catch(apiError), 200);
      return c.json(await ocr(ctx, ai(), await decodeBody(ctx, bytes)), 200);
    }),
  );
  documentRoute(app, {
    method: "post",
    path: "/moderate",
    operationId: "moderate",
    summary: "Moderation labels of an image (PNG or JPEG body) → [{ label, score }] best first, flagged",
    request: { body: { content: { "image/*": { schema: { type: "string", format: "binary" } } } } },
    responses: { 200: { description: "labels", content: { "application/json": { schema: z.object({}) } } } },
    errors: [404, 413, 429, 503],
  });
  app.post("/moderate", (c) =>
    answer(c, async () => c.json(await moderate(ctx, ai(), await imageBody(ctx, c.req.raw)), 200)),
  );
}

/** Mounts /vad: audio in any format ffmpeg reads → speech segments. */
export function vadRoutes(app: OpenAPIHono, ctx: Ctx, ai: () => AiState) {
  documentRoute(app, {
    method: "post",
    path: "/vad",
    operationId: "vad",
    summary: "Speech segments in an audio file (any format ffmpeg reads) → [{ startMs, endMs }]",
    request: { body: { content: { "audio/*": { schema: { type: "string", format: "binary" } } } } },
    responses: {
      200: { description: "segments", content: { "application/json": { schema: z.object({}) } } },
    },
    errors: [404, 413, 429, 503],
  });
  app.post("/vad", (c) =>
    answer(c, async () => {
      const bytes = await bodyBytes(c.req.raw, MAX_AUDIO_BYTES);
      const samples = await decodeAudio(bytes, ctx.config.maxAudioSeconds).catch((err) => {
        throw err instanceof AudioError ? new ApiError(err.status, err.message) : err;
      });
      return c.json(await vad(ctx, ai(), samples), 200);
    }),
  );
}

/** Speech segments of decoded 16 kHz mono samples with the installed silero-vad model. */
export async function vad(ctx: Ctx, s: AiState, samples: Float32Array) {
  const { model, path } = await entryOf(ctx, s, "silero-vad", "vad");
  const job = { kind: "vad" as const, path, samples };
  return runJob(ctx, s, "silero-vad", model.size, job, { [path]: "silero-vad" }) as Promise<{
    durationMs: number;
    segments: { startMs: number; endMs: number }[];
  }>;
}

/** Moderation labels of a decoded image with the installed nsfw-mobilenet-v2 model. */
export async function moderate(
  ctx: Ctx,
  s: AiState,
  image: { width: number; height: number; data: Uint8Array },
) {
  const name = MODERATION_MODEL;
  const { model, path } = await entryOf(ctx, s, name, "moderate");
  const shards = await Promise.all(
    Object.keys(model.manifest.files)
      .filter((f) => /^group\d+-shard\d+of\d+$/.test(f))
      .sort(byShard)
      .map((f) => localFile(ctx, s, name, f)),
  );
  const job = { kind: "moderate" as const, modelJson: path, shards, image };
  const r = (await runJob(ctx, s, name, model.size, job, { [path]: name })) as Moderation;
  return { model: name, ...r };
}

const shardNo = (f: string) => f.match(/\d+/g)?.map(Number) ?? [];
export const byShard = (a: string, b: string) => {
  const [ga = 0, sa = 0] = shardNo(a);
  const [gb = 0, sb = 0] = shardNo(b);
  return ga - gb || sa - sb;
};

/** OCR of a decoded image with the installed ppocr-det, -rec and -cls models. */
export async function ocr(ctx: Ctx, s: AiState, image: { width: number; height: number; data: Uint8Array }) {
  const det = await entryOf(ctx, s, "ppocr-det", "ocr-det");
  const rec = await entryOf(ctx, s, "ppocr-rec", "ocr-rec");
  const cls = await entryOf(ctx, s, "ppocr-cls", "ocr-cls");
  const dict = await localFile(ctx, s, "ppocr-rec", "ppocr_keys_v1.txt");
  const bytes = det.model.size + rec.model.size + cls.model.size;
  const models = { [det.path]: "ppocr-det", [rec.path]: "ppocr-rec", [cls.path]: "ppocr-cls" };
  const job = { kind: "ocr" as const, det: det.path, rec: rec.path, cls: cls.path, dict, image };
  return runJob(ctx, s, "ocr", bytes, job, models) as Promise<{
    lines: unknown[];
    width: number;
    height: number;
  }>;
}
