/**
 * Decoding the detectors' outputs (plain functions, no tfjs): CenterNet COCO's `[100, 6]` detections
 * (x1, y1, x2, y2, score, class at 512 px) and BlazeFace's 896 anchors (logit, centre offset, size at 256 px),
 * then non-maximum suppression. Boxes come back in the original image's pixels.
 */

/** CenterNet's input size and BlazeFace's (the models' fixed input shapes). */
export const OBJECT_SIZE = 512;
export const FACE_SIZE = 256;

/** The 80 COCO classes in CenterNet's class-index order. */
export const COCO_LABELS = (
  "person,bicycle,car,motorcycle,airplane,bus,train,truck,boat,traffic light,fire hydrant,stop sign," +
  "parking meter,bench,bird,cat,dog,horse,sheep,cow,elephant,bear,zebra,giraffe,backpack,umbrella,handbag,tie," +
  "suitcase,frisbee,skis,snowboard,sports ball,kite,baseball bat,baseball glove,skateboard,surfboard," +
  "tennis racket,bottle,wine glass,cup,fork,knife,spoon,bowl,banana,apple,sandwich,orange,broccoli,carrot," +
  "hot dog,pizza,donut,cake,chair,couch,potted plant,bed,dining table,toilet,tv,laptop,mouse,remote,keyboard," +
  "cell phone,microwave,oven,toaster,sink,refrigerator,book,clock,vase,scissors,teddy bear,hair drier,toothbrush"
).split(",");

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
export interface Detection {
  label: string;
  score: number;
  box: Box;
}
export interface DetectOptions {
  minScore: number;
  iou: number;
  maxResults: number;
}

interface Scored {
  score: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  cls: number;
}

function iouOf(a: Scored, b: Scored): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy non-maximum suppression: best first, dropping boxes overlapping a kept one by more than `iou`. */
export function nms<T extends Scored>(boxes: T[], o: DetectOptions): T[] {
  const sorted = boxes.filter((b) => b.score >= o.minScore).sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const b of sorted) {
    if (kept.length >= o.maxResults) break;
    if (kept.every((k) => iouOf(k, b) <= o.iou)) kept.push(b);
  }
  return kept;
}

/** A box in model pixels (`size` square) → the image's pixels, clipped to the image. */
function toImage(b: Scored, size: number, width: number, height: number): Box {
  const sx = width / size;
  const sy = height / size;
  const x1 = Math.max(0, Math.min(width, b.x1 * sx));
  const y1 = Math.max(0, Math.min(height, b.y1 * sy));
  const x2 = Math.max(0, Math.min(width, b.x2 * sx));
  const y2 = Math.max(0, Math.min(height, b.y2 * sy));
  return { x: Math.round(x1), y: Math.round(y1), width: Math.round(x2 - x1), height: Math.round(y2 - y1) };
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** CenterNet's `tower_0/detections` (rows of x1, y1, x2, y2, score, class) → labelled objects. */
export function decodeObjects(
  rows: ArrayLike<number>,
  width: number,
  height: number,
  o: DetectOptions,
): Detection[] {
  const boxes: Scored[] = [];
  for (let i = 0; i + 5 < rows.length; i += 6) {
    const cls = rows[i + 5] as number;
    if (!Number.isFinite(cls) || COCO_LABELS[cls] === undefined) continue;
    const [x1, y1, x2, y2, score] = [0, 1, 2, 3, 4].map((k) => rows[i + k] as number) as number[];
    boxes.push({ x1, y1, x2, y2, score, cls } as Scored);
  }
  return nms(boxes, o).map((b) => ({
    label: COCO_LABELS[b.cls] as string,
    score: round3(b.score),
    box: toImage(b, OBJECT_SIZE, width, height),
  }));
}

/** BlazeFace's anchor centres (x, y in model pixels): strides 16 and 32 with 2 and 6 anchors per cell. */
export function faceAnchors(size = FACE_SIZE): [number, number][] {
  const anchors: [number, number][] = [];
  for (const [stride, per] of [
    [size / 16, 2],
    [size / 8, 6],
  ] as const) {
    const cells = Math.ceil(size / stride);
    for (let gy = 0; gy < cells; gy++)
      for (let gx = 0; gx < cells; gx++)
        for (let n = 0; n < per; n++) anchors.push([stride * (gx + 0.5), stride * (gy + 0.5)]);
  }
  return anchors;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * BlazeFace's outputs (per anchor: logit `[896]` and regressors `[896, 16]` with the centre offset and size
 * first, in the anchors' order: the 512 stride-16 ones, then the 384 stride-32 ones) → faces.
 */
export function decodeFaces(
  logits: ArrayLike<number>,
  regressors: ArrayLike<number>,
  width: number,
  height: number,
  o: DetectOptions,
): Detection[] {
  const anchors = faceAnchors();
  const boxes: Scored[] = [];
  for (const [i, [ax, ay]] of anchors.entries()) {
    const score = sigmoid(logits[i] as number);
    if (score < o.minScore) continue;
    const r = i * 16;
    const cx = ax + (regressors[r] as number);
    const cy = ay + (regressors[r + 1] as number);
    const w = regressors[r + 2] as number;
    const h = regressors[r + 3] as number;
    boxes.push({ score, cls: 0, x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 });
  }
  return nms(boxes, o).map((b) => ({
    label: "face",
    score: round3(b.score),
    box: toImage(b, FACE_SIZE, width, height),
  }));
}
