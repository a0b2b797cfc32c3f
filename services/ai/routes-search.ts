/** HTTP for embeddings and semantic search: thin handlers over embed.ts and the pool. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import { ApiError, jsonRoute, requireCaller } from "../../appliance/kit/index.js";
import {
  EMBED_DIMENSIONS,
  EMBED_MODEL,
  indexDocument,
  mayReadDocument,
  mayWriteDocument,
  searchIndex,
  unindexDocument,
} from "./embed.js";
import { answer } from "./errors.js";
import { type Ctx, getModel } from "./models.js";
import { runJob } from "./run.js";
import type { AiState } from "./state.js";

const texts = z.array(z.string().min(1).max(4000)).min(1).max(64);
const docId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9:._/-]{0,199}$/, "id: letters, digits, ':', '.', '_', '/', '-'");
const docKind = z.string().regex(/^[a-z0-9-]{1,32}$/);
const hitOut = z.object({ id: z.string(), kind: z.string(), text: z.string(), score: z.number() });

/** Vectors of `input` on the embeddings lane. */
export async function embed(ctx: Ctx, ai: AiState, input: string[]): Promise<Float32Array[]> {
  const m = getModel(ctx, EMBED_MODEL);
  if (!m) throw new ApiError(404, `model ${EMBED_MODEL} is not installed`);
  return runJob(
    ctx,
    ai,
    EMBED_MODEL,
    m.size,
    { kind: "embed", texts: input },
    { [EMBED_MODEL]: EMBED_MODEL },
  ) as Promise<Float32Array[]>;
}

/** Mounts /embed, /index and /search. */
export function searchRoutes(app: OpenAPIHono, ctx: Ctx, ai: () => AiState) {
  jsonRoute(
    app,
    {
      method: "post",
      path: "/embed",
      operationId: "embed",
      summary: "Texts → 512-d vectors (Universal Sentence Encoder lite)",
      body: z.object({ texts }).strict(),
      response: z.object({
        model: z.string(),
        dimensions: z.number(),
        vectors: z.array(z.array(z.number())),
      }),
      errors: [404, 429, 503],
    },
    (c, { body }) =>
      answer(c, async () => {
        const vectors = await embed(ctx, ai(), body.texts);
        return c.json(
          { model: EMBED_MODEL, dimensions: EMBED_DIMENSIONS, vectors: vectors.map((v) => [...v]) },
          200,
        );
      }) as never,
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/index",
      operationId: "indexDocuments",
      summary:
        "Add or replace texts in the semantic index; they belong to the caller (only they and ai:admin find them). An id another user's or the pipeline's document holds → 409",
      body: z
        .object({
          documents: z
            .array(z.object({ id: docId, kind: docKind, text: z.string().min(1).max(4000) }).strict())
            .min(1)
            .max(64),
        })
        .strict(),
      response: z.object({ indexed: z.number() }),
      errors: [404, 409, 429, 503],
    },
    (c, { body }) =>
      answer(c, async () => {
        const caller = requireCaller(c);
        const owner = { type: "user" as const, id: caller.id };
        const taken = () => body.documents.find((d) => !mayWriteDocument(ctx, caller, d.id));
        const refuse = (id?: string) =>
          new ApiError(409, "that id is taken by a document that is not yours", { id });
        if (taken()) throw refuse(taken()?.id);
        const vectors = await embed(
          ctx,
          ai(),
          body.documents.map((d) => d.text),
        );
        ctx.tx(() => {
          // Checked again in the transaction: the pipeline may have taken an id while the texts were embedded.
          if (taken()) throw refuse(taken()?.id);
          for (const [i, d] of body.documents.entries())
            indexDocument(ctx, { ...d, owner }, vectors[i] as Float32Array);
        });
        return c.json({ indexed: body.documents.length }, 200);
      }) as never,
  );
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/index/{id}",
      operationId: "unindexDocument",
      summary:
        "Remove a text one indexed from the semantic index (ai:admin: any user's); the pipeline's documents go with their file or submission",
      params: z.object({ id: docId }),
      response: z.object({ removed: z.boolean() }),
      errors: [403, 404],
    },
    (c, { params }) => {
      const caller = requireCaller(c);
      if (!mayReadDocument(ctx, caller, params.id)) throw new ApiError(404, "no such document in the index");
      if (!mayWriteDocument(ctx, caller, params.id))
        throw new ApiError(403, "only texts indexed through this API can be removed here");
      if (!unindexDocument(ctx, params.id)) throw new ApiError(404, "no such document in the index");
      return c.json({ removed: true }, 200);
    },
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/search",
      operationId: "search",
      summary:
        "Semantic search over the indexed texts the caller may read (their files' spaces, forms with forms:read, texts they indexed)",
      body: z
        .object({
          query: z.string().min(1).max(4000),
          limit: z.number().int().min(1).max(100).default(10),
          kind: docKind.optional(),
        })
        .strict(),
      response: z.object({ hits: z.array(hitOut) }),
      errors: [404, 429, 503],
    },
    (c, { body }) =>
      answer(c, async () => {
        const caller = requireCaller(c);
        const [q] = await embed(ctx, ai(), [body.query]);
        const hits = searchIndex(ctx, caller, q as Float32Array, { limit: body.limit, kind: body.kind });
        return c.json({ hits }, 200);
      }) as never,
  );
}
