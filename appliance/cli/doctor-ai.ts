/**
 * `nexus doctor`'s AI checks: onnxruntime-node's CPU binary (shipped in its npm package), the GPU provider
 * libraries the profile asks for (not in the package: the bundle carries them when given), and the provider
 * each model the running AI service has loaded runs on (its `runtime.json`).
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { RUNTIME_FILE } from "../../services/ai/state.js";
import { loadApplianceConfig } from "../config/load.js";
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
  for (const p of providers.filter((p) => p === "cuda" || p === "tensorrt")) {
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
