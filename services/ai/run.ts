/** Running jobs for the routes: a model's files resolved to local paths, the pool, the providers recorded. */
import type { Job } from "./jobs.js";
import { type Ctx, getModel, localFile, RegistryError } from "./models.js";
import { type AiState, recordRuntime } from "./state.js";

/** A model's entry file as a local path, and its size (the lane's memory estimate). */
export async function entryOf(ctx: Ctx, ai: AiState, name: string, task?: string) {
  const m = getModel(ctx, name);
  if (!m) throw new RegistryError(404, `no model named ${name}`);
  if (task && m.task !== task) throw new RegistryError(404, `model ${name} is not a ${task} model`);
  return { model: m, path: await localFile(ctx, ai, name, m.manifest.entry) };
}

/** Runs a job on lane `lane` and records which provider each model's session got. */
export async function runJob(
  ctx: Ctx,
  ai: AiState,
  lane: string,
  bytes: number,
  job: Job,
  models: Record<string, string>,
) {
  const r = await ai.pool.run(lane, bytes, job);
  for (const [path, provider] of Object.entries(r.providers)) {
    const model = models[path];
    if (model) ai.loaded.set(model, { lane, provider });
  }
  recordRuntime(ctx, ai);
  return r.result;
}
