/**
 * The OCR pipeline, run inside an inference worker: detect text regions (PP-OCRv4 det + DB post-processing),
 * turn upside-down lines (cls), recognise each line (rec + CTC). Coordinates are the original image's.
 */
import { readFileSync } from "node:fs";
import type { Tensor } from "onnxruntime-node";
import { ctcDecode, parseDict } from "./ctc.js";
import { dbBoxes } from "./db.js";
import { type Region, type Rgb, regionTensor } from "./tensor.js";

type Exec = (path: string, feeds: Record<string, Tensor>) => Promise<Record<string, Tensor>>;
type TensorCtor = new (type: "float32", data: Float32Array, dims: number[]) => Tensor;

const DET_NORM = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const REC_NORM = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
const DET_MAX_SIDE = 960;
const REC_H = 48;
const REC_MAX_W = 1600;
const CLS_W = 192;

export interface OcrLine {
  text: string;
  confidence: number;
  box: { x: number; y: number; width: number; height: number };
}

const dicts = new Map<string, string[]>();

/** Lines of text in `job.image`, top to bottom, left to right. */
export async function runOcr(
  job: { det: string; rec: string; cls: string; dict: string; image: Rgb },
  exec: Exec,
  T: TensorCtor,
): Promise<{ width: number; height: number; lines: OcrLine[] }> {
  const img = job.image;
  let dict = dicts.get(job.dict);
  if (!dict) {
    dict = parseDict(readFileSync(job.dict, "utf8"));
    dicts.set(job.dict, dict);
  }
  const regions = await detect(img, job.det, exec, T);
  const lines: OcrLine[] = [];
  for (const r of regions) {
    const flip = await upsideDown(img, r, job.cls, exec, T);
    const { text, confidence } = await recognise(img, r, flip, job.rec, dict, exec, T);
    if (text.trim() === "") continue;
    const box = { x: Math.round(r.x), y: Math.round(r.y), width: Math.round(r.w), height: Math.round(r.h) };
    lines.push({ text, confidence, box });
  }
  lines.sort((a, b) =>
    Math.abs(a.box.y - b.box.y) < a.box.height / 2 ? a.box.x - b.box.x : a.box.y - b.box.y,
  );
  return { width: img.width, height: img.height, lines };
}

async function detect(img: Rgb, det: string, exec: Exec, T: TensorCtor): Promise<Region[]> {
  const scale = Math.min(1, DET_MAX_SIDE / Math.max(img.width, img.height));
  const nw = Math.max(32, Math.round((img.width * scale) / 32) * 32);
  const nh = Math.max(32, Math.round((img.height * scale) / 32) * 32);
  const whole = { x: 0, y: 0, w: img.width, h: img.height };
  const out = await exec(det, {
    x: new T("float32", regionTensor(img, whole, nw, nh, DET_NORM), [1, 3, nh, nw]),
  });
  const prob = Object.values(out)[0] as Tensor;
  const [, , mh, mw] = prob.dims as number[];
  const sx = img.width / (mw as number);
  const sy = img.height / (mh as number);
  return dbBoxes(prob.data as Float32Array, mw as number, mh as number).map((b) => ({
    x: b.x * sx,
    y: b.y * sy,
    w: b.w * sx,
    h: b.h * sy,
  }));
}

async function upsideDown(img: Rgb, r: Region, cls: string, exec: Exec, T: TensorCtor): Promise<boolean> {
  const w = Math.min(CLS_W, Math.max(1, Math.ceil((REC_H * r.w) / r.h)));
  const data = regionTensor(img, r, w, REC_H, REC_NORM, CLS_W);
  const out = Object.values(
    await exec(cls, { x: new T("float32", data, [1, 3, REC_H, CLS_W]) }),
  )[0] as Tensor;
  const p = out.data as Float32Array;
  return (p[1] as number) > (p[0] as number) && (p[1] as number) > 0.9;
}

async function recognise(
  img: Rgb,
  r: Region,
  flip: boolean,
  rec: string,
  dict: string[],
  exec: Exec,
  T: TensorCtor,
) {
  const w = Math.min(REC_MAX_W, Math.max(8, Math.ceil((REC_H * r.w) / r.h)));
  const data = regionTensor(img, r, w, REC_H, REC_NORM, w, flip);
  const out = Object.values(await exec(rec, { x: new T("float32", data, [1, 3, REC_H, w]) }))[0] as Tensor;
  const [, steps, classes] = out.dims as number[];
  return ctcDecode(out.data as Float32Array, steps as number, classes as number, dict);
}
