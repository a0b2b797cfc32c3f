/**
 * Execution provider selection: the profile's providers, best first ([tensorrt, cuda, cpu] on NVIDIA). A session
 * is created with the first provider and the ones after it (onnxruntime places nodes the first cannot run on
 * the next); when that fails to load (CUDA/TensorRT libraries missing, no GPU), the next is tried. The provider
 * a model runs on is the first whose session loaded.
 */
import type { InferenceSession } from "onnxruntime-node";
import type { Provider } from "./config.js";

/** Creates a session for a model file with the given providers, in order (injected in tests). */
export type SessionFactory = (path: string, providers: Provider[]) => Promise<InferenceSession>;

export interface LoadedSession {
  session: InferenceSession;
  provider: Provider;
  /** Providers that failed before, with why. */
  failed: { provider: Provider; error: string }[];
}

/** onnxruntime's provider options for each of ours. TensorRT keeps its built engines beside the cache. */
export function providerOptions(
  providers: Provider[],
  engineCacheDir?: string,
): InferenceSession.ExecutionProviderConfig[] {
  return providers.map((p): InferenceSession.ExecutionProviderConfig => {
    if (p === "cuda") return { name: "cuda", deviceId: 0 } as InferenceSession.ExecutionProviderConfig;
    if (p === "tensorrt")
      return {
        name: "tensorrt",
        deviceId: 0,
        ...(engineCacheDir ? { trtEngineCacheEnable: true, trtEngineCachePath: engineCacheDir } : {}),
      } as InferenceSession.ExecutionProviderConfig;
    return p;
  });
}

/** Tries each provider in order, with the ones after it as onnxruntime's fallbacks; throws when none loads. */
export async function loadWithFallback(
  path: string,
  providers: Provider[],
  create: SessionFactory,
): Promise<LoadedSession> {
  const failed: LoadedSession["failed"] = [];
  for (let i = 0; i < providers.length; i++) {
    const provider = providers[i] as Provider;
    try {
      const session = await create(path, providers.slice(i));
      return { session, provider, failed };
    } catch (err) {
      failed.push({ provider, error: (err as Error).message });
    }
  }
  const why = failed.map((f) => `${f.provider}: ${f.error}`).join("; ");
  throw new Error(`no execution provider could load ${path} (${why})`);
}

/** The real factory: onnxruntime-node with the providers' options. */
export function ortFactory(engineCacheDir?: string): SessionFactory {
  return async (path, providers) => {
    const ort = await import("onnxruntime-node");
    return ort.InferenceSession.create(path, {
      executionProviders: providerOptions(providers, engineCacheDir),
      graphOptimizationLevel: "all",
      intraOpNumThreads: 1,
    });
  };
}
