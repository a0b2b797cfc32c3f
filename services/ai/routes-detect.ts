/** HTTP for object and face detection: POST /detect (image → boxes), optionally the image with faces pixelated. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import { ApiError, documentRoute, errorBody } from "../../appliance/kit/index.js";
import { encodeImage, pixelate } from "./blur.js";
import type { Detections, DetectJob, TfjsFiles } from "./detect.js";
import { answer } from "./errors.js";
import { imageSize, type Rgb } from "./image.js";
import { type Ctx, localFile } from "./models.js";
import { bodyBytes, decodeBody, MAX_IMAGE_BYTES } from "./routes-infer.js";
import { entryOf, runJob } from "./run.js";
import type { AiState } from "./state.js";

export const OBJECT_MODEL = "centernet-coco";
export const FACE_MODEL = "blazeface";

const flag = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
export const detectQuery = z.object({
  objects: flag.optional(),
  faces: flag.optional(),
  blur: flag.optional(),
  minScore: z.coerce.number().min(0).max(1).optional(),
  maxResults: z.coerce.number().int().min(1).max(100).optional(),
});
export type DetectQuery = z.infer<typeof detectQuery>;

/** A tfjs model's model.json and weight files (`.bin` or `groupN-shardMofK`) as local paths. */
async function tfjsFiles(ctx: Ctx, s: AiState, name: string): Promise<TfjsFiles & { size: number }> {
  const { model, path } = await entryOf(ctx, s, name, "detect");
  const weights = Object.keys(model.manifest.files)
    .filter((f) => f.endsWith(".bin") || /^group\d+-shard\d+of\d+$/.test(f))
    .sort();
  const shards = await Promise.all(weights.map((f) => localFile(ctx, s, name, f)));
  return { modelJson: path, shards, size: model.size };
}

/** Objects (COCO) and/or faces in a decoded image with the installed centernet-coco and blazeface models. */
export async function detect(ctx: Ctx, s: AiState, image: Rgb, q: DetectQuery = {}): Promise<Detections> {
  const wantObjects = q.objects ?? true;
  const wantFaces = (q.faces ?? true) || (q.blur ?? false);
  if (!wantObjects && !wantFaces)
    throw new ApiError(400, "nothing to detect: objects and faces are both off");
  const objects = wantObjects ? await tfjsFiles(ctx, s, OBJECT_MODEL) : undefined;
  const faces = wantFaces ? await tfjsFiles(ctx, s, FACE_MODEL) : undefined;
  const maxResults = q.maxResults ?? 20;
  const job: DetectJob = {
    kind: "detect",
    ...(objects ? { objects: { modelJson: objects.modelJson, shards: objects.shards } } : {}),
    ...(faces ? { faces: { modelJson: faces.modelJson, shards: faces.shards } } : {}),
    options: {
      objects: { minScore: q.minScore ?? 0.3, iou: 0.4, maxResults },
      faces: { minScore: q.minScore ?? 0.5, iou: 0.3, maxResults },
    },
    image,
  };
  const models: Record<string, string> = {};
  if (objects) models[objects.modelJson] = OBJECT_MODEL;
  if (faces) models[faces.modelJson] = FACE_MODEL;
  const bytes = (objects?.size ?? 0) + (faces?.size ?? 0);
  return (await runJob(ctx, s, "detect", bytes, job, models)) as Detections;
}

/** Mounts /detect. */
export function detectRoutes(app: OpenAPIHono, ctx: Ctx, ai: () => AiState) {
  documentRoute(app, {
    method: "post",
    path: "/detect",
    operationId: "detect",
    summary:
      "Objects (80 COCO classes) and faces in an image (PNG or JPEG body) → [{ label, score, box }]; ?blur=true → the image with faces pixelated",
    request: {
      query: detectQuery,
      body: { content: { "image/*": { schema: { type: "string", format: "binary" } } } },
    },
    responses: {
      200: { description: "detections", content: { "application/json": { schema: z.object({}) } } },
    },
    errors: [404, 413, 429, 503],
  });
  app.post("/detect", (c) =>
    answer(c, async () => {
      const q = detectQuery.safeParse(c.req.query());
      if (!q.success) return c.json(errorBody(400, "invalid query", { issues: q.error.issues }), 400);
      const bytes = await bodyBytes(c.req.raw, MAX_IMAGE_BYTES);
      const image = await decodeBody(ctx, bytes);
      const { width, height } = image;
      const found = await detect(ctx, ai(), image, q.data);
      if (!q.data.blur) return c.json({ width, height, ...found }, 200);
      const format = imageSize(bytes)?.format ?? "png";
      const out = await encodeImage(
        pixelate(
          image,
          (found.faces ?? []).map((f) => f.box),
        ),
        format,
      );
      return c.body(new Uint8Array(out), 200, {
        "content-type": `image/${format}`,
        "x-faces": String(found.faces?.length ?? 0),
        "x-face-boxes": JSON.stringify((found.faces ?? []).map((f) => f.box)).slice(0, 4000),
      });
    }),
  );
}
