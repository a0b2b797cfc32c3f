/** HTTP for the runtime's state: providers configured, loaded lanes and the provider each model got. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import { jsonRoute } from "../../appliance/kit/index.js";
import type { Ctx } from "./models.js";
import type { AiState } from "./state.js";
import { providerOf } from "./state.js";

const laneOut = z.object({
  key: z.string(),
  workers: z.number(),
  running: z.number(),
  queued: z.number(),
  bytes: z.number(),
  lastUsed: z.string(),
});

/** Mounts GET /runtime and GET /hub-packs. */
export function runtimeRoutes(app: OpenAPIHono, ctx: Ctx, ai: () => AiState) {
  jsonRoute(
    app,
    {
      method: "get",
      path: "/runtime",
      operationId: "getRuntime",
      summary: "Execution providers, loaded models with their provider, queues",
      response: z.object({
        executionProviders: z.array(z.string()),
        memoryBudgetMb: z.number(),
        concurrency: z.number(),
        lanes: z.array(laneOut),
        loaded: z.array(z.object({ model: z.string(), lane: z.string(), provider: z.string() })),
      }),
    },
    (c) => {
      const s = ai();
      const loaded = [...s.loaded.keys()]
        .map((model) => ({ model, lane: s.loaded.get(model)?.lane ?? "", provider: providerOf(s, model) }))
        .filter((l): l is { model: string; lane: string; provider: string } => l.provider !== null);
      return c.json(
        {
          executionProviders: ctx.config.executionProviders,
          memoryBudgetMb: ctx.config.memoryBudgetMb,
          concurrency: ctx.config.concurrency,
          lanes: s.pool.status().map(({ providers: _p, ...l }) => l),
          loaded,
        },
        200,
      );
    },
  );
  jsonRoute(
    app,
    {
      method: "get",
      path: "/hub-packs",
      operationId: "getHubPacks",
      summary: "Model packs from the hub: whether the box is enrolled, its last round, what it did",
      response: z.object({
        enrolled: z.boolean(),
        lastPollAt: z.string().nullable(),
        lastError: z.string().nullable(),
        done: z.record(z.string(), z.string()),
      }),
    },
    (c) => {
      const h = ai().hubPacks;
      return c.json(
        h ? { enrolled: true, ...h } : { enrolled: false, lastPollAt: null, lastError: null, done: {} },
        200,
      );
    },
  );
}
