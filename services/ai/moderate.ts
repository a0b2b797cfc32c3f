/**
 * Image moderation with the NSFWJS MobileNetV2 "mid" graph model (models/nsfwjs-mobilenet-v2-mid, MIT), run in
 * an inference worker on the tfjs + WebAssembly backend @energetic-ai/core bundles: RGB resized to 224×224
 * (bilinear), scaled to [0, 1], → probabilities of the five NSFWJS classes.
 */
import { readFileSync } from "node:fs";

/** The model's classes, in its output order. */
export const NSFW_CLASSES = ["drawing", "hentai", "neutral", "porn", "sexy"] as const;
/** Classes a moderator flags. */
export const FLAGGED = new Set(["hentai", "porn", "sexy"]);
export const MODERATE_SIZE = 224;

export interface ModerateJob {
  kind: "moderate";
  /** model.json and its weight shards (in the manifest's order) as local paths. */
  modelJson: string;
  shards: string[];
  image: { width: number; height: number; data: Uint8Array };
}

export interface Moderation {
  labels: { label: string; score: number }[];
  flagged: boolean;
}

/** The part of tfjs used here (@energetic-ai/core's types point at @tensorflow/tfjs-core, not installed). */
export interface Tensor {
  shape: number[];
  size: number;
  data(): Promise<Float32Array>;
  dispose(): void;
}
export interface GraphModel {
  predict(t: Tensor): Tensor;
  execute(t: Tensor, outputs?: string[]): Tensor | Tensor[];
}
export interface Tf {
  ready(): Promise<void>;
  tidy<T>(f: () => T): T;
  div(t: Tensor, n: number): Tensor;
  sub(t: Tensor, n: number): Tensor;
  expandDims(t: Tensor, axis: number): Tensor;
  tensor3d(data: Float32Array, shape: number[], dtype: "float32"): Tensor;
  image: { resizeBilinear(t: Tensor, size: [number, number], alignCorners: boolean): Tensor };
  loadGraphModel(handler: unknown): Promise<GraphModel>;
  io: { fromMemory(artifacts: object): unknown };
}
const models = new Map<string, Promise<GraphModel>>();

async function load(tf: Tf, modelJson: string, shards: string[]): Promise<GraphModel> {
  const mj = JSON.parse(readFileSync(modelJson, "utf8")) as {
    modelTopology: object;
    format?: string;
    weightsManifest: { weights: never[] }[];
  };
  const data = Buffer.concat(shards.map((p) => readFileSync(p)));
  const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.length) as ArrayBuffer;
  const weightSpecs = mj.weightsManifest.flatMap((g) => g.weights);
  return tf.loadGraphModel(
    tf.io.fromMemory({ modelTopology: mj.modelTopology, weightSpecs, weightData, format: mj.format }),
  );
}

/** tfjs on @energetic-ai/core's WebAssembly backend, ready. */
export async function tfjs(): Promise<Tf> {
  const tf = (await import("@energetic-ai/core")) as unknown as Tf;
  await tf.ready();
  return tf;
}

/** A graph model from its model.json and shards, loaded once per thread. */
export function graphModel(tf: Tf, modelJson: string, shards: string[]): Promise<GraphModel> {
  let m = models.get(modelJson);
  if (!m) {
    m = load(tf, modelJson, shards);
    m.catch(() => models.delete(modelJson));
    models.set(modelJson, m);
  }
  return m;
}

/** Class probabilities of one image, best first (in a worker: the model is loaded once per thread). */
export async function moderateImage(job: ModerateJob): Promise<Moderation> {
  const tf = await tfjs();
  const model = await graphModel(tf, job.modelJson, job.shards);
  const { width, height, data } = job.image;
  const out = tf.tidy(() => {
    const img = tf.tensor3d(Float32Array.from(data), [height, width, 3], "float32");
    const resized = tf.image.resizeBilinear(img, [MODERATE_SIZE, MODERATE_SIZE], true);
    return model.predict(tf.expandDims(tf.div(resized, 255), 0));
  });
  const probs = Array.from(await out.data());
  out.dispose();
  const labels = NSFW_CLASSES.map((label, i) => ({ label, score: probs[i] ?? 0 })).sort(
    (a, b) => b.score - a.score,
  );
  return { labels, flagged: FLAGGED.has(labels[0]?.label ?? "") };
}
