/**
 * An inference worker thread: keeps its sessions warm (one per model file) and runs one job at a time, so the
 * service's event loop never runs a model. Ended (terminate) to unload.
 */
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import type { Provider } from "./config.js";
import { detectImage } from "./detect.js";
import { EMBED_MODEL, embedTexts } from "./embed.js";
import type { Job, JobReply, JobRequest, WireTensor } from "./jobs.js";
import { moderateImage } from "./moderate.js";
import { runOcr } from "./ocr/pipeline.js";
import { type LoadedSession, loadWithFallback, ortFactory } from "./providers.js";
import { frameProbabilities, segmentsOf, VAD_RATE } from "./vad.js";

// Linux niceness is per thread: this thread (and the threads onnxruntime starts from it) yields to the service's
// event loop, so health checks and other requests stay fast while a model saturates the CPU.
try {
  setPriority(Number((workerData as { nice?: number } | null)?.nice ?? 10));
} catch {
  // not permitted here: run at normal priority
}

const sessions = new Map<string, Promise<LoadedSession>>();
const factory = ortFactory();

/** The warm session of a model file, loaded on first use with the provider fallback. */
function session(path: string, providers: Provider[]): Promise<LoadedSession> {
  let s = sessions.get(path);
  if (!s) {
    s = loadWithFallback(path, providers, factory);
    s.catch(() => sessions.delete(path));
    sessions.set(path, s);
  }
  return s;
}

async function run(
  job: Job,
  providers: Provider[],
): Promise<{ result: unknown; used: Record<string, Provider> }> {
  const used: Record<string, Provider> = {};
  const ort = await import("onnxruntime-node");
  const exec = async (path: string, feeds: Record<string, InstanceType<typeof ort.Tensor>>) => {
    const s = await session(path, providers);
    used[path] = s.provider;
    return s.session.run(feeds);
  };
  if (job.kind === "infer") {
    const feeds = Object.fromEntries(
      Object.entries(job.feeds).map(([k, t]) => [
        k,
        new ort.Tensor(t.type as never, t.data as never, t.dims),
      ]),
    );
    const out = await exec(job.path, feeds);
    const result: Record<string, WireTensor> = {};
    for (const [k, t] of Object.entries(out))
      result[k] = { type: t.type, dims: [...t.dims], data: t.data as never };
    return { result, used };
  }
  if (job.kind === "embed")
    return { result: await embedTexts(job.texts), used: { [EMBED_MODEL]: "cpu" as Provider } };
  if (job.kind === "moderate") return { result: await moderateImage(job), used: { [job.modelJson]: "cpu" } };
  if (job.kind === "detect") {
    const used: Record<string, Provider> = {};
    for (const m of [job.objects, job.faces]) if (m) used[m.modelJson] = "cpu";
    return { result: await detectImage(job), used };
  }
  if (job.kind === "vad") {
    const probs = await frameProbabilities(
      job.samples,
      job.path,
      (path, feeds) => exec(path, feeds),
      ort.Tensor as never,
    );
    const totalMs = (job.samples.length / VAD_RATE) * 1000;
    return { result: { durationMs: Math.round(totalMs), segments: segmentsOf(probs, totalMs) }, used };
  }
  const result = await runOcr(job, (path, feeds) => exec(path, feeds), ort.Tensor);
  return { result, used };
}

parentPort?.on("message", (msg: JobRequest) => {
  run(msg.job, msg.providers).then(
    ({ result, used }) =>
      parentPort?.postMessage({ id: msg.id, ok: true, result, providers: used } satisfies JobReply),
    (err: Error & { status?: number }) =>
      parentPort?.postMessage({
        id: msg.id,
        ok: false,
        error: err.message,
        status: err.status ?? 500,
      } satisfies JobReply),
  );
});
