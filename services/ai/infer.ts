/**
 * The generic inference path: named tensors from JSON checked against the model's manifest (names, types,
 * ranks, fixed dimensions, element counts) before anything reaches a worker, and the outputs back as JSON.
 */
import { z } from "zod";
import type { WireTensor } from "./jobs.js";
import type { Dtype, Manifest, TensorSpec } from "./manifest.js";

/** Most elements one request may carry across its inputs. */
export const MAX_ELEMENTS = 4_000_000;

export const tensorIn = z
  .object({
    type: z.string().optional(),
    shape: z.array(z.number().int().min(0)).max(8),
    data: z.array(z.union([z.number(), z.boolean()])),
  })
  .strict();
export const inferBody = z.object({ inputs: z.record(z.string(), tensorIn) }).strict();
export type InferBody = z.infer<typeof inferBody>;

/** Input the model cannot take; the message says which tensor and why. */
export class TensorError extends Error {
  readonly status = 400;
}

const ARRAYS: Record<Dtype, (d: (number | boolean)[]) => WireTensor["data"]> = {
  float32: (d) => Float32Array.from(d as number[]),
  float64: (d) => Float64Array.from(d as number[]),
  int32: (d) => Int32Array.from(d as number[]),
  int64: (d) => BigInt64Array.from((d as number[]).map((v) => BigInt(Math.trunc(v)))),
  uint8: (d) => Uint8Array.from(d as number[]),
  int8: (d) => Int8Array.from(d as number[]),
  bool: (d) => Uint8Array.from(d.map((v) => (v ? 1 : 0))),
};

/** Checks one tensor against its spec; returns the reason it does not fit, or null. */
export function shapeProblem(spec: TensorSpec, t: z.infer<typeof tensorIn>): string | null {
  if (t.type !== undefined && t.type !== spec.type) return `type is ${t.type}; the model takes ${spec.type}`;
  if (t.shape.length !== spec.shape.length)
    return `shape [${t.shape}] has ${t.shape.length} dimensions; the model takes ${spec.shape.length} ([${spec.shape.map((d) => d ?? "?")}])`;
  for (let i = 0; i < spec.shape.length; i++) {
    const want = spec.shape[i];
    if (typeof want === "number" && want >= 0 && t.shape[i] !== want)
      return `dimension ${i} is ${t.shape[i]}; the model takes ${want}`;
  }
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (n !== t.data.length) return `shape [${t.shape}] needs ${n} values; got ${t.data.length}`;
  if (spec.type !== "bool" && t.data.some((v) => typeof v !== "number"))
    return `values must be numbers for ${spec.type}`;
  return null;
}

/** The worker's feeds for a request, or a TensorError naming the first problem. */
export function feedsFor(manifest: Manifest, body: InferBody): Record<string, WireTensor> {
  const feeds: Record<string, WireTensor> = {};
  let total = 0;
  for (const name of Object.keys(body.inputs)) {
    if (!manifest.inputs.some((i) => i.name === name))
      throw new TensorError(
        `unknown input ${name}; the model takes ${manifest.inputs.map((i) => i.name).join(", ")}`,
      );
  }
  for (const spec of manifest.inputs) {
    const t = body.inputs[spec.name];
    if (!t) throw new TensorError(`missing input ${spec.name}`);
    const problem = shapeProblem(spec, t);
    if (problem) throw new TensorError(`input ${spec.name}: ${problem}`);
    total += t.data.length;
    if (total > MAX_ELEMENTS) throw new TensorError(`inputs carry more than ${MAX_ELEMENTS} values`);
    feeds[spec.name] = {
      type: spec.type === "bool" ? "bool" : spec.type,
      dims: t.shape,
      data: ARRAYS[spec.type](t.data),
    };
  }
  return feeds;
}

/** A worker's outputs as JSON: 64-bit integers as numbers, booleans as booleans. */
export function outputsJson(out: Record<string, WireTensor>) {
  return Object.fromEntries(
    Object.entries(out).map(([k, t]) => [
      k,
      {
        type: t.type,
        shape: t.dims,
        data: Array.from(t.data as ArrayLike<number | bigint | boolean>, (v) =>
          typeof v === "bigint" ? Number(v) : t.type === "bool" ? Boolean(v) : v,
        ),
      },
    ]),
  );
}
