/**
 * A tiny ONNX model written byte by byte (protobuf by hand, no Python): one Add node, `sum = a + b`, with
 * float32 inputs of shape [1, n]. Enough to test the generic inference path and the model registry.
 */
import { createHash } from "node:crypto";

const varint = (n: number): number[] => {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};
const field = (no: number, wire: 0 | 2) => varint((no << 3) | wire);
const int = (no: number, v: number) => [...field(no, 0), ...varint(v)];
const bytes = (no: number, b: number[]) => [...field(no, 2), ...varint(b.length), ...b];
const str = (no: number, s: string) => bytes(no, [...Buffer.from(s, "utf8")]);

/** ValueInfoProto of a float tensor with fixed dims (numbers) or named ones (strings). */
function valueInfo(name: string, dims: (number | string)[], elemType = 1): number[] {
  const shape = dims.flatMap((d) => bytes(1, typeof d === "number" ? int(1, d) : str(2, d)));
  const tensorType = [...int(1, elemType), ...bytes(2, shape)];
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))];
}

/** The model's bytes: opset 13, inputs `a` and `b` of shape [1, n], output `sum`. */
export function addModel(n = 4): Buffer {
  const node = [...str(1, "a"), ...str(1, "b"), ...str(2, "sum"), ...str(4, "Add")];
  const graph = [
    ...bytes(1, node),
    ...str(2, "add"),
    ...bytes(11, valueInfo("a", [1, n])),
    ...bytes(11, valueInfo("b", [1, n])),
    ...bytes(12, valueInfo("sum", [1, n])),
  ];
  const model = [
    ...int(1, 8),
    ...str(2, "nexus-test"),
    ...bytes(7, graph),
    ...bytes(8, [...str(1, ""), ...int(2, 13)]),
  ];
  return Buffer.from(model);
}

/** A pack manifest for addModel(n)'s bytes (name tiny-add, MIT), with fields replaced by `over`. */
export function addManifest(model: Buffer, n = 4, over: Record<string, unknown> = {}) {
  return {
    name: "tiny-add",
    version: "1.0.0",
    task: "generic",
    runtime: "onnx",
    entry: "model.onnx",
    inputs: [
      { name: "a", type: "float32", shape: [1, n] },
      { name: "b", type: "float32", shape: [1, n] },
    ],
    outputs: [{ name: "sum", type: "float32", shape: [1, n] }],
    preprocess: "none",
    postprocess: "none",
    license: "MIT",
    files: { "model.onnx": createHash("sha256").update(model).digest("hex") },
    ...over,
  };
}
