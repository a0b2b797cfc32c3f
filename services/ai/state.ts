/** The AI service's running state (blob store, install jobs, inference pool), kept per context. */
import { randomUUID } from "node:crypto";
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createBlobStore } from "../files/blob-store/index.js";
import type { Ctx, ModelInfo, RegistryStore } from "./models.js";
import { installPack } from "./models.js";
import { InferencePool } from "./pool.js";

export interface InstallJob {
  id: string;
  state: "verifying" | "done" | "failed";
  doneBytes: number;
  totalBytes: number;
  model: string | null;
  error: string | null;
  status: number | null;
}

export interface AiState extends RegistryStore {
  pool: InferencePool;
  jobs: Map<string, InstallJob>;
  /** Model → the lane it is loaded in and the provider its session got (see providerOf). */
  loaded: Map<string, { lane: string; provider: string }>;
  lastRuntime?: string;
  /** The last round of asking the hub for assigned packs (hub-packs.ts); absent on a box not enrolled. */
  hubPacks?: HubPacksStatus;
}

export interface HubPacksStatus {
  /** When the last round ended, and whether it reached the hub (the error when not: tried again next round). */
  lastPollAt: string | null;
  lastError: string | null;
  /** What the rounds did so far, by model: installed, failed or removed. */
  done: Record<string, string>;
}

/** Where the service writes the models loaded now and their providers (read by `nexus doctor`). */
export const RUNTIME_FILE = "runtime.json";

/** Writes runtime.json when what is loaded changed. */
export function recordRuntime(ctx: Ctx, ai: AiState): void {
  const loaded = [...ai.loaded.keys()]
    .map((model) => ({ model, provider: providerOf(ai, model) }))
    .filter((l) => l.provider !== null);
  const text = JSON.stringify({ executionProviders: ctx.config.executionProviders, loaded });
  if (text === ai.lastRuntime) return;
  ai.lastRuntime = text;
  writeFileSync(join(ctx.dataDir, `${RUNTIME_FILE}.tmp`), text);
  renameSync(join(ctx.dataDir, `${RUNTIME_FILE}.tmp`), join(ctx.dataDir, RUNTIME_FILE));
}

/** The provider a model's loaded session runs on, or null when it is not loaded now. */
export function providerOf(ai: AiState, model: string): string | null {
  const l = ai.loaded.get(model);
  if (!l || !ai.pool.status().some((s) => s.key === l.lane)) return null;
  return l.provider;
}

const states = new WeakMap<object, AiState>();

/** The blob store and directories of the AI service (blobs default to `<data>/services/ai/blobs`). */
export function registryStore(ctx: Ctx): RegistryStore {
  const root = join(ctx.dataDir, "services", "ai");
  const store = createBlobStore(
    { backend: "local", root: ctx.config.blobRoot ?? join(root, "blobs") },
    ctx.dataDir,
  );
  const stagingDir = join(root, "staging");
  rmSync(stagingDir, { recursive: true, force: true }); // what a crash left half-unpacked
  mkdirSync(stagingDir, { recursive: true });
  return { store, stagingDir, cacheDir: join(root, "cache") };
}

/** Opens the store and the pool; called once at start. */
export async function startAi(ctx: Ctx): Promise<AiState> {
  const reg = registryStore(ctx);
  // What a crash left half-unpacked (only the service clears it: `nexus models install` may be using it).
  rmSync(reg.stagingDir, { recursive: true, force: true });
  mkdirSync(reg.stagingDir, { recursive: true });
  await reg.store.init();
  const c = ctx.config;
  const pool = new InferencePool({
    concurrency: c.concurrency,
    queueDepth: c.queueDepth,
    timeoutMs: c.requestTimeoutMs,
    idleMs: c.idleUnloadMs,
    budgetBytes: c.memoryBudgetMb * 1024 * 1024,
    providers: c.executionProviders,
    nice: c.workerNice,
  });
  const state: AiState = { ...reg, pool, jobs: new Map(), loaded: new Map() };
  states.set(ctx, state);
  return state;
}

export function aiOf(ctx: Ctx): AiState {
  const s = states.get(ctx);
  if (!s) throw new Error("ai service not started");
  return s;
}

/** Starts installing a received pack file in the background; the job shows its progress. */
export function startInstall(ctx: Ctx, ai: AiState, packFile: string, totalBytes: number): InstallJob {
  const job: InstallJob = {
    id: randomUUID(),
    state: "verifying",
    doneBytes: 0,
    totalBytes,
    model: null,
    error: null,
    status: null,
  };
  ai.jobs.set(job.id, job);
  installPack(ctx, ai, packFile, {
    onProgress: (d) => {
      job.doneBytes = d;
    },
  })
    .then((m: ModelInfo) => {
      ai.pool.unload(m.name);
      Object.assign(job, { state: "done", model: m.name, doneBytes: totalBytes });
    })
    .catch((err: Error & { status?: number }) => {
      Object.assign(job, { state: "failed", error: err.message, status: err.status ?? 400 });
    })
    .finally(() => rmSync(packFile, { force: true }));
  return job;
}
