/**
 * The model registry: installed packs in SQLite (`models`, `model_files`), their files in the blob store
 * (keyed by sha256, shared between models), and a local cache of the files the runtime opens. Plain functions
 * over the service context; the routes and `nexus models` call them.
 */
import { createHash, randomUUID } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { ServiceContext } from "../../appliance/kit/index.js";
import type { BlobStore } from "../../appliance/lib/blob-store.js";
import type { AiConfig } from "./config.js";
import { type Manifest, ManifestError } from "./manifest.js";
import { type Progress, type StagedFile, unpackPack } from "./pack.js";
import { checkPackSignature, trustedKeyDirs, trustedKeys } from "./signing.js";

export type Ctx = ServiceContext<AiConfig>;

/** Where the registry keeps things: the blob store, a staging dir for packs, a cache of model files. */
export interface RegistryStore {
  store: BlobStore;
  stagingDir: string;
  cacheDir: string;
}

export interface ModelInfo {
  name: string;
  version: string;
  task: string;
  runtime: string;
  license: string;
  builtin: boolean;
  pinned: boolean;
  size: number;
  installedAt: string;
  /** Key id of the trusted key that signed the pack; null for built-ins and unsigned dev installs. */
  signer: string | null;
  manifest: Manifest;
}

interface ModelRow {
  name: string;
  version: string;
  task: string;
  runtime: string;
  license: string;
  manifest: string;
  builtin: number;
  pinned: number;
  size: number;
  installed_at: string;
  signer: string | null;
}

/** A registry action the caller got wrong (409: pinned, 404: unknown). */
export class RegistryError extends Error {
  constructor(
    readonly status: 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

const toInfo = (r: ModelRow): ModelInfo => ({
  name: r.name,
  version: r.version,
  task: r.task,
  runtime: r.runtime,
  license: r.license,
  builtin: r.builtin === 1,
  pinned: r.pinned === 1,
  size: r.size,
  installedAt: r.installed_at,
  signer: r.signer,
  manifest: JSON.parse(r.manifest) as Manifest,
});

/** Every installed model, by name. */
export function listModels(ctx: Ctx): ModelInfo[] {
  return (ctx.db.prepare("SELECT * FROM models ORDER BY name").all() as ModelRow[]).map(toInfo);
}

/** One installed model, or null. */
export function getModel(ctx: Ctx, name: string): ModelInfo | null {
  const r = ctx.db.prepare("SELECT * FROM models WHERE name = ?").get(name) as ModelRow | undefined;
  return r ? toInfo(r) : null;
}

/** Installs a pack file (verified first); replaces an unpinned model of the same name. */
export async function installPack(
  ctx: Ctx,
  reg: RegistryStore,
  packFile: string,
  opts: { onProgress?: Progress; builtin?: boolean } = {},
): Promise<ModelInfo> {
  const pack = await unpackPack(packFile, reg.stagingDir, {
    maxBytes: ctx.config.maxPackBytes,
    onProgress: opts.onProgress,
  });
  try {
    const keys = trustedKeys(trustedKeyDirs(ctx.dataDir, ctx.config));
    const { signer } = checkPackSignature(
      pack.manifestBytes,
      pack.signature,
      keys,
      ctx.config.allowUnsignedPacks,
    );
    return await installFiles(ctx, reg, pack.manifest, pack.files, opts.builtin ?? false, signer);
  } finally {
    pack.discard();
  }
}

/** Stores verified files and records the model in one transaction. */
export async function installFiles(
  ctx: Ctx,
  reg: RegistryStore,
  manifest: Manifest,
  files: StagedFile[],
  builtin: boolean,
  signer: string | null = null,
): Promise<ModelInfo> {
  const old = getModel(ctx, manifest.name);
  if (old?.pinned && old.version !== manifest.version)
    throw new RegistryError(409, `${manifest.name} is pinned at version ${old.version}; unpin it first`);
  for (const f of files) await reg.store.put(f.sha256, { file: f.path }, f.size);
  const size = files.reduce((n, f) => n + f.size, 0);
  const replaced = ctx.tx(() => {
    const before = old ? fileShas(ctx, manifest.name) : [];
    ctx.db.prepare("DELETE FROM models WHERE name = ?").run(manifest.name);
    ctx.db
      .prepare(
        `INSERT INTO models (name, version, task, runtime, license, manifest, builtin, pinned, size, installed_at,
           signer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        manifest.name,
        manifest.version,
        manifest.task,
        manifest.runtime,
        manifest.license,
        JSON.stringify(manifest),
        builtin ? 1 : 0,
        old?.pinned ? 1 : 0,
        size,
        new Date().toISOString(),
        signer,
      );
    const ins = ctx.db.prepare("INSERT INTO model_files (model, file, sha256, size) VALUES (?, ?, ?, ?)");
    for (const f of files) ins.run(manifest.name, f.name, f.sha256, f.size);
    ctx.emit("model.installed", {
      name: manifest.name,
      version: manifest.version,
      license: manifest.license,
      signer,
    });
    return before;
  });
  await releaseUnused(ctx, reg, replaced);
  return getModel(ctx, manifest.name) as ModelInfo;
}

/** Removes a model (not a pinned one) and the blobs no other model uses. */
export async function removeModel(ctx: Ctx, reg: RegistryStore, name: string): Promise<void> {
  const m = getModel(ctx, name);
  if (!m) throw new RegistryError(404, `no model named ${name}`);
  if (m.pinned) throw new RegistryError(409, `${name} is pinned; unpin it first`);
  const shas = ctx.tx(() => {
    const s = fileShas(ctx, name);
    ctx.db.prepare("DELETE FROM models WHERE name = ?").run(name);
    ctx.emit("model.removed", { name });
    return s;
  });
  await releaseUnused(ctx, reg, shas);
}

/** Pins (or unpins) a model: a pinned model keeps its version and cannot be removed. */
export function pinModel(ctx: Ctx, name: string, pinned: boolean): ModelInfo {
  const r = ctx.db.prepare("UPDATE models SET pinned = ? WHERE name = ?").run(pinned ? 1 : 0, name);
  if (r.changes === 0) throw new RegistryError(404, `no model named ${name}`);
  return getModel(ctx, name) as ModelInfo;
}

function fileShas(ctx: Ctx, name: string): string[] {
  return (
    ctx.db.prepare("SELECT sha256 FROM model_files WHERE model = ?").all(name) as { sha256: string }[]
  ).map((r) => r.sha256);
}

async function releaseUnused(ctx: Ctx, reg: RegistryStore, shas: string[]): Promise<void> {
  const used = ctx.db.prepare("SELECT 1 FROM model_files WHERE sha256 = ? LIMIT 1");
  for (const sha of new Set(shas)) {
    if (used.get(sha)) continue;
    await reg.store.delete(sha);
    rmSync(join(reg.cacheDir, sha), { force: true });
  }
}

/** A model's file as a local path the runtime can open (copied from the blob store into the cache once). */
export async function localFile(ctx: Ctx, reg: RegistryStore, model: string, file: string): Promise<string> {
  const r = ctx.db.prepare("SELECT sha256 FROM model_files WHERE model = ? AND file = ?").get(model, file) as
    | { sha256: string }
    | undefined;
  if (!r) throw new RegistryError(404, `model ${model} has no file ${file}`);
  const path = join(reg.cacheDir, r.sha256);
  if (existsSync(path)) return path;
  mkdirSync(reg.cacheDir, { recursive: true });
  const tmp = `${path}.${randomUUID()}.part`;
  const hash = createHash("sha256");
  const src = await reg.store.get(r.sha256);
  src.on("data", (c: Buffer) => hash.update(c));
  await pipeline(src, createWriteStream(tmp));
  if (hash.digest("hex") !== r.sha256) {
    rmSync(tmp, { force: true });
    throw new ManifestError(`stored file ${file} of ${model} does not match its checksum`);
  }
  renameSync(tmp, path);
  return path;
}
