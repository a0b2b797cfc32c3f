/** HTTP for the model registry: thin handlers over models.ts and state.ts. */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import { ApiError, documentRoute, jsonRoute } from "../../appliance/kit/index.js";
import { incomingOf } from "../files/http.js";
import { receive } from "../files/receive.js";
import { answer, asApiError } from "./errors.js";
import { MODEL_NAME } from "./manifest.js";
import { type Ctx, getModel, listModels, pinModel, removeModel } from "./models.js";
import { type AiState, providerOf, startInstall } from "./state.js";

const nameParam = z.object({ name: z.string().regex(MODEL_NAME, "not a model name") });
const modelOut = z
  .object({
    name: z.string(),
    version: z.string(),
    task: z.string(),
    runtime: z.string(),
    license: z.string(),
    builtin: z.boolean(),
    pinned: z.boolean(),
    size: z.number(),
    installedAt: z.string(),
    /** Key id of the trusted key that signed the pack (null: built-in or unsigned dev install). */
    signer: z.string().nullable(),
    provider: z.string().nullable(),
    manifest: z.record(z.string(), z.unknown()),
  })
  .openapi("AiModel");
const jobOut = z
  .object({
    id: z.string(),
    state: z.enum(["verifying", "done", "failed"]),
    doneBytes: z.number(),
    totalBytes: z.number(),
    model: z.string().nullable(),
    error: z.string().nullable(),
    status: z.number().nullable(),
  })
  .openapi("AiInstallJob");

/** Mounts the registry routes. */
export function modelRoutes(app: OpenAPIHono, ctx: Ctx, ai: () => AiState) {
  const out = (m: NonNullable<ReturnType<typeof getModel>>) => ({ ...m, provider: providerOf(ai(), m.name) });
  jsonRoute(
    app,
    {
      method: "get",
      path: "/models",
      operationId: "listModels",
      summary: "Installed models with licence, pin and the provider each loaded one runs on",
      response: z.object({ models: z.array(modelOut) }),
    },
    (c) => c.json({ models: listModels(ctx).map(out) }, 200),
  );
  jsonRoute(
    app,
    {
      method: "get",
      path: "/models/{name}",
      operationId: "getModel",
      summary: "One installed model",
      params: nameParam,
      response: modelOut,
      errors: [404],
    },
    (c, { params }) => {
      const m = getModel(ctx, params.name);
      if (!m) throw new ApiError(404, `no model named ${params.name}`);
      return c.json(out(m), 200);
    },
  );
  documentRoute(app, {
    method: "post",
    path: "/models",
    operationId: "installModel",
    summary: "Install a model pack (tar of manifest.json and its files): 202 and a job to follow",
    request: { body: { content: { "application/x-tar": { schema: { type: "string", format: "binary" } } } } },
    responses: { 202: { description: "install job", content: { "application/json": { schema: jobOut } } } },
    errors: [413, 507],
  });
  app.post("/models", (c) =>
    answer(c, async () => {
      const s = ai();
      const file = join(s.stagingDir, `${randomUUID()}.pack`);
      const tooMuch = () => new ApiError(413, `pack is over ${ctx.config.maxPackBytes} bytes`);
      const r = await receive(incomingOf(c), file, { offset: 0, max: ctx.config.maxPackBytes, tooMuch });
      if (!r.complete) throw new ApiError(400, "the pack upload ended early");
      if (r.written === 0) throw new ApiError(400, "empty body: send the pack file");
      return c.json(startInstall(ctx, s, file, r.written), 202);
    }),
  );
  jsonRoute(
    app,
    {
      method: "get",
      path: "/jobs/{id}",
      operationId: "getInstallJob",
      summary: "Progress of a pack install",
      params: z.object({ id: z.string().uuid() }),
      response: jobOut,
      errors: [404],
    },
    (c, { params }) => {
      const job = ai().jobs.get(params.id);
      if (!job) throw new ApiError(404, "no such install job");
      return c.json(job, 200);
    },
  );
  jsonRoute(
    app,
    {
      method: "put",
      path: "/models/{name}/pin",
      operationId: "pinModel",
      summary: "Pin or unpin a model (a pinned model keeps its version and cannot be removed)",
      params: nameParam,
      body: z.object({ pinned: z.boolean() }).strict(),
      response: modelOut,
      errors: [404],
    },
    (c, { params, body }) => {
      try {
        return c.json(out(pinModel(ctx, params.name, body.pinned)), 200);
      } catch (err) {
        throw asApiError(err);
      }
    },
  );
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/models/{name}",
      operationId: "removeModel",
      summary: "Remove a model (not a pinned one) and unload it",
      params: nameParam,
      response: z.object({ removed: z.boolean() }),
      errors: [404, 409],
    },
    async (c, { params }) => {
      try {
        await removeModel(ctx, ai(), params.name);
      } catch (err) {
        throw asApiError(err);
      }
      ai().pool.unload(params.name);
      return c.json({ removed: true }, 200);
    },
  );
}
