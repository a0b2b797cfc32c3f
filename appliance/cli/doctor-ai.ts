/**
 * `nexus doctor`'s AI checks: onnxruntime-node's CPU binary (shipped in its npm package), the GPU provider
 * libraries the profile asks for (not in the package: the bundle carries them when given), and the provider
 * each model the running AI service has loaded runs on (its `runtime.json`).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { RUNTIME_FILE } from "../../services/ai/state.js";
import { loadApplianceConfig } from "../config/load.js";
import { packageRoot } from "../paths.js";
import { loadProfile } from "../profiles/load.js";

/** One line of `nexus doctor` (doctor.ts's Check, which imports this file). */
interface Check {
  name: string;
  level: "ok" | "warn" | "fail";
  detail: string;
  fix?: string;
}

const require = createRequire(import.meta.url);

/** The folder with onnxruntime-node's native binding and libraries for this platform. */
export function ortBinDir(): string | null {
  try {
    const root = dirname(dirname(require.resolve("onnxruntime-node")));
    const arch = process.arch === "arm64" ? "arm64" : "x64";
    return join(root, "bin", "napi-v6", process.platform, arch);
  } catch {
    return null;
  }
}

/**
 * Whether the installed bundle carries GPU libraries (`npm run bundle -- --gpu-libs DIR`): its `lib/gpu/`
 * (the CUDA/cuDNN/TensorRT libraries, on LD_LIBRARY_PATH through the launcher), beside `appRoot` (`<bundle>/app`).
 * A warning only when the profile wants a GPU provider and none are there.
 */
export function gpuLibsCheck(appRoot: string, wantsGpu: boolean): Check {
  if (!existsSync(join(appRoot, "..", "manifest")))
    return { name: "gpu libraries", level: "ok", detail: "not run from a bundle (a checkout): none carried" };
  const dir = join(appRoot, "..", "lib", "gpu");
  const libs = existsSync(dir) ? readdirSync(dir).filter((f) => /\.so(\.\d+)*$/.test(f)) : [];
  if (libs.length > 0)
    return {
      name: "gpu libraries",
      level: "ok",
      detail: `${libs.length} in the bundle (${dir}): ${libs.join(", ")}`,
    };
  if (!wantsGpu)
    return { name: "gpu libraries", level: "ok", detail: "none in the bundle (not needed: CPU profile)" };
  return {
    name: "gpu libraries",
    level: "warn",
    detail: "the bundle carries no GPU libraries: CUDA/cuDNN/TensorRT must be on the box's loader path",
    fix: "install a bundle built with `npm run bundle -- --gpu-libs DIR` (see docs/ai.md)",
  };
}

/** The AI runtime's checks for the box on `dataDir`. */
export function aiChecks(dataDir: string): Check[] {
  const checks: Check[] = [];
  const bin = ortBinDir();
  const cpu = bin !== null && existsSync(join(bin, "onnxruntime_binding.node"));
  checks.push(
    cpu
      ? { name: "onnx runtime", level: "ok", detail: `CPU provider at ${bin}` }
      : {
          name: "onnx runtime",
          level: "warn",
          detail: "onnxruntime-node's binary is missing (AI inference unavailable)",
          fix: "npm ci (the CPU binary ships in the onnxruntime-node package)",
        },
  );
  let providers: string[] = ["cpu"];
  try {
    providers = loadProfile(loadApplianceConfig({ dataDir }).profile).onnx.executionProviders;
  } catch {
    // no readable profile: the CPU is checked above
  }
  const gpu = providers.filter((p) => p === "cuda" || p === "tensorrt");
  checks.push(gpuLibsCheck(packageRoot(), gpu.length > 0));
  for (const p of gpu) {
    const lib = `libonnxruntime_providers_${p}.so`;
    const found = bin !== null && existsSync(join(bin, lib));
    checks.push(
      found
        ? { name: `onnx ${p}`, level: "ok", detail: `${lib} present` }
        : {
            name: `onnx ${p}`,
            level: "warn",
            detail: `${lib} missing: models fall back to the next provider`,
            fix: `build the bundle with the onnxruntime GPU libraries (${lib}, libonnxruntime_providers_shared.so) in ${bin}`,
          },
    );
  }
  const runtime = join(dataDir, "services", "ai", RUNTIME_FILE);
  if (existsSync(runtime)) {
    try {
      const r = JSON.parse(readFileSync(runtime, "utf8")) as {
        loaded: { model: string; provider: string }[];
      };
      const detail = r.loaded.map((l) => `${l.model} on ${l.provider}`).join(", ") || "none loaded";
      checks.push({ name: "ai models", level: "ok", detail });
    } catch {
      // being rewritten: skip
    }
  }
  return checks;
}
