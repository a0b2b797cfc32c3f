/** Path-addressed routes: spaces, folder listings, folders, and file content up and down. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError, jsonRoute, requireCaller } from "../../appliance/kit/index.js";
import { contentAt, putContent } from "./content.js";
import { incomingOf, pathAfter } from "./http.js";
import { parsePath, parseUrlPath } from "./names.js";
import { findByPath, listChildren, makeFolders, nodeOf } from "./nodes.js";
import { spaceUsage } from "./quota.js";
import * as s from "./schemas.js";
import { serveBlob } from "./serve.js";
import { requireSpace, spacesOf } from "./spaces.js";
import type { Ctx, Files } from "./state.js";

export function spaceRoutes(app: OpenAPIHono, ctx: Ctx, files: () => Files) {
  jsonRoute(
    app,
    { method: "get", path: "/spaces", summary: "The caller's spaces, with usage and quota" },
    (c) => {
      const caller = requireCaller(c);
      const spaces = spacesOf(caller).map((sp) => ({ ...sp, ...spaceUsage(ctx, sp.id, ctx.config) }));
      return c.json({ spaces }, 200);
    },
  );

  const list = (c: Context) => {
    const caller = requireCaller(c);
    const space = requireSpace(caller, c.req.param("space") ?? "");
    const limit = s.listQuery.safeParse({ limit: c.req.query("limit") });
    if (!limit.success) throw new ApiError(400, "limit: 1 to 5000");
    const names = parseUrlPath(pathAfter(c, "list"));
    const folder = names.length ? findByPath(ctx, space, names) : null;
    if (folder === undefined || folder?.kind === "file") throw new ApiError(404, "no such folder");
    const items = listChildren(ctx, space, folder?.id ?? null, limit.data.limit).map((r) => nodeOf(ctx, r));
    return c.json({ folder: folder ? nodeOf(ctx, folder) : null, items }, 200);
  };
  app.get("/spaces/:space/list", list);
  app.get("/spaces/:space/list/*", list);

  app.put("/spaces/:space/content/*", async (c) => {
    const f = files();
    const w = await putContent(ctx, f, {
      caller: requireCaller(c),
      space: c.req.param("space") ?? "",
      path: pathAfter(c, "content"),
      contentLength: c.req.header("content-length"),
      sha256: c.req.header("x-content-sha256"),
      ifMatch: c.req.header("if-match"),
      ifNoneMatch: c.req.header("if-none-match"),
      contentType: c.req.header("content-type"),
      body: () => incomingOf(c),
    });
    return c.json({ file: w.file }, w.created ? 201 : 200);
  });
  app.get("/spaces/:space/content/*", (c) => {
    const f = files();
    const blob = contentAt(ctx, requireCaller(c), {
      space: c.req.param("space") ?? "",
      path: pathAfter(c, "content"),
      version: c.req.query("version"),
    });
    return serveBlob(c, f, blob, { inline: c.req.query("inline") === "1" });
  });

  jsonRoute(
    app,
    {
      method: "post",
      path: "/spaces/{space}/folders",
      summary: "Create a folder (and missing parents); 200 when it already exists",
      params: s.spaceParam,
      body: s.folderBody,
      status: 201,
    },
    (c, { params, body }) => {
      const caller = requireCaller(c);
      const space = requireSpace(caller, params.space);
      const names = parsePath(body.path);
      // Immediate: the check and the insert see the latest state even with another writer on the database.
      const { folder, created } = ctx.db
        .transaction(() => makeFolders(ctx, space, names, caller.id))
        .immediate();
      return c.json({ folder: nodeOf(ctx, folder!) }, created ? 201 : 200);
    },
  );

  documentRawRoutes(app);
}

/** The routes with a wildcard path are plain Hono routes; describe them in the OpenAPI document by hand. */
function documentRawRoutes(app: OpenAPIHono) {
  const params = [
    { name: "space", in: "path" as const, required: true, schema: { type: "string" as const } },
    { name: "path", in: "path" as const, required: true, schema: { type: "string" as const } },
  ];
  const ok = { description: "success" };
  app.openAPIRegistry.registerPath({
    method: "put",
    path: "/spaces/{space}/content/{path}",
    summary:
      "Upload a whole file (raw body, streamed). A new path makes version 1 (201), an existing file its next " +
      "version (200). Headers: x-content-sha256 (verified), If-Match, If-None-Match: *. 507 on quota or full disk.",
    parameters: params,
    responses: { 200: ok, 201: ok },
  });
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/spaces/{space}/content/{path}",
    summary: "Download a file (?version=N, ?inline=1): ETag, If-None-Match, Range (206), HEAD",
    parameters: params,
    responses: { 200: ok, 206: ok, 304: ok },
  });
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/spaces/{space}/list/{path}",
    summary: "List a folder (empty path: the space root); ?limit=",
    parameters: params,
    responses: { 200: ok },
  });
}
