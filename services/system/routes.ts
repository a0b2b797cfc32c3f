/** HTTP for the system service: thin handlers that call box.ts and settings.ts. */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { ApiError, errorResponses, type ServiceContext } from "../../appliance/kit/index.js";
import { boxInfo, diskInfo, uptime } from "./box.js";
import {
  deleteSetting,
  getSetting,
  listSettings,
  putSetting,
  SETTING_KEY,
  settingValue,
} from "./settings.js";

const keyParam = z.object({
  key: z
    .string()
    .regex(SETTING_KEY, "key: lower-case letters, digits, '_', '.', '-'; at most 64 characters")
    .openapi({ param: { name: "key", in: "path" }, example: "box.label" }),
});
const settingBody = z.object({ value: settingValue }).strict();
const settingOut = z.object({ key: z.string(), value: z.string(), updatedAt: z.string() }).openapi("Setting");
const infoOut = z.object({
  hostname: z.string(),
  platform: z.string(),
  arch: z.string(),
  release: z.string(),
  cpus: z.number().int(),
  cpuModel: z.string(),
  memoryTotalBytes: z.number(),
  memoryFreeBytes: z.number(),
  loadAverage: z.array(z.number()),
  node: z.string(),
  uptime: z.object({ hostSeconds: z.number(), serviceSeconds: z.number() }),
  disk: z.object({
    path: z.string(),
    totalBytes: z.number(),
    freeBytes: z.number(),
    availableBytes: z.number(),
    usedPercent: z.number(),
  }),
  site: z.string(),
});
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

/** Mounts the system routes on the service app. */
export function systemRoutes(app: OpenAPIHono, ctx: ServiceContext) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/info",
      operationId: "getInfo",
      summary: "Box facts: host, CPU, memory, uptime, disk of the data dir",
      responses: { 200: json(infoOut, "box facts") },
    }),
    (c) => c.json({ ...boxInfo(), uptime: uptime(), disk: diskInfo(ctx.dataDir), site: ctx.site }, 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/time",
      operationId: "getTime",
      summary: "The box clock, for checking drift against a client",
      responses: { 200: json(z.object({ now: z.string(), epochMs: z.number() }), "time") },
    }),
    (c) => {
      const now = Date.now();
      return c.json({ now: new Date(now).toISOString(), epochMs: now }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/settings",
      operationId: "listSettings",
      summary: "All box settings",
      responses: { 200: json(z.object({ settings: z.array(settingOut) }), "settings") },
    }),
    (c) => c.json({ settings: listSettings(ctx) }, 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/settings/{key}",
      operationId: "getSetting",
      summary: "One box setting",
      request: { params: keyParam },
      responses: { 200: json(settingOut, "the setting"), ...errorResponses([400, 404]) },
    }),
    (c) => {
      const s = getSetting(ctx, c.req.valid("param").key);
      if (!s) throw new ApiError(404, "no such setting");
      return c.json(s, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "put",
      path: "/settings/{key}",
      operationId: "putSetting",
      summary: "Create or replace a box setting (emits nexus.system.settings.changed)",
      request: {
        params: keyParam,
        body: { content: { "application/json": { schema: settingBody } }, required: true },
      },
      responses: { 200: json(settingOut, "the stored setting"), ...errorResponses([400]) },
    }),
    (c) => c.json(putSetting(ctx, c.req.valid("param").key, c.req.valid("json").value), 200),
  );
  app.openapi(
    createRoute({
      method: "delete",
      path: "/settings/{key}",
      operationId: "deleteSetting",
      summary: "Delete a box setting (emits nexus.system.settings.deleted)",
      request: { params: keyParam },
      responses: { 200: json(z.object({ deleted: z.boolean() }), "deleted"), ...errorResponses([400, 404]) },
    }),
    (c) => {
      if (!deleteSetting(ctx, c.req.valid("param").key)) throw new ApiError(404, "no such setting");
      return c.json({ deleted: true }, 200);
    },
  );
}
