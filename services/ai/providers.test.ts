/**
 * Provider selection with an injected session factory (no GPU here): CUDA failing to load falls back to the
 * next provider; each try passes the remaining providers to onnxruntime, best first; the real factory loads a
 * model on the CPU provider shipped in onnxruntime-node's package.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import type { InferenceSession } from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { addModel } from "../../test/helpers/onnx.js";
import type { Provider } from "./config.js";
import { loadWithFallback, ortFactory, providerOptions } from "./providers.js";

const fake = {} as InferenceSession;

describe("loadWithFallback", () => {
  it("falls back from a failing CUDA to the CPU, passing the remaining providers each time", async () => {
    const tries: Provider[][] = [];
    const loaded = await loadWithFallback("m.onnx", ["tensorrt", "cuda", "cpu"], async (_p, providers) => {
      tries.push(providers);
      if (providers[0] !== "cpu")
        throw new Error(`${providers[0]}: libonnxruntime_providers_cuda.so missing`);
      return fake;
    });
    expect(tries).toEqual([["tensorrt", "cuda", "cpu"], ["cuda", "cpu"], ["cpu"]]);
    expect(loaded.provider).toBe("cpu");
    expect(loaded.failed.map((f) => f.provider)).toEqual(["tensorrt", "cuda"]);
    expect(loaded.failed[1]?.error).toMatch(/cuda/);
  });

  it("keeps CUDA when it loads, after TensorRT failed", async () => {
    const loaded = await loadWithFallback("m.onnx", ["tensorrt", "cuda", "cpu"], async (_p, providers) => {
      if (providers[0] === "tensorrt") throw new Error("no TensorRT");
      return fake;
    });
    expect(loaded.provider).toBe("cuda");
  });

  it("throws with every reason when nothing loads", async () => {
    const err = await loadWithFallback("m.onnx", ["cuda", "cpu"], async (_p, providers) => {
      throw new Error(`bad ${providers[0]}`);
    }).catch((e: Error) => e);
    expect(String(err)).toMatch(/cuda: bad cuda; cpu: bad cpu/);
  });

  it("gives onnxruntime the CUDA and TensorRT options", () => {
    expect(providerOptions(["tensorrt", "cuda", "cpu"], "/cache/trt")).toEqual([
      { name: "tensorrt", deviceId: 0, trtEngineCacheEnable: true, trtEngineCachePath: "/cache/trt" },
      { name: "cuda", deviceId: 0 },
      "cpu",
    ]);
  });

  it("loads a real model on the CPU binary shipped in onnxruntime-node (CUDA absent → CPU)", async () => {
    const dir = mkdtempSync(join(os.tmpdir(), "nexus-ai-"));
    const file = join(dir, "add.onnx");
    writeFileSync(file, addModel(2));
    const loaded = await loadWithFallback(file, ["cuda", "cpu"], ortFactory());
    expect(loaded.provider).toBe("cpu");
    expect(loaded.session.inputNames).toEqual(["a", "b"]);
  });
});
