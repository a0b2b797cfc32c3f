/** Path-addressed routes: spaces, folder listings, folders, and file content up and down. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError, jsonRoute, requireCaller } from "../../appliance/kit/index.js";
import { contentAt, putContent } from "./content.js";
import { documentContentRoutes } from "./content-doc.js";
import { incomingOf, namesOf } from "./http.js";
import { parsePath } from "./names.js";
import { findByPath, listChildren, makeFolders, nodeOf } from "./nodes.js";
import { spaceUsage } from "./quota.js";
import * as s from "./schemas.js";
import { serveBlob } from "./serve.js";
import { requireSpace, spacesOf } from "./spaces.js";
import type { Ctx, Files } from "./state.js";

export function spaceRoutes(app: OpenAPIHono, ctx: Ctx, files: () => Files) {
  jsonRoute(
    app,
    {
      method: "get",
      path: "/spaces",
      operationId: "listSpaces",
      summary: "The caller's spaces, with usage and quota",
      response: s.spacesOut,
    },
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
    const names = namesOf(c, "list");
    const folder = names.length ? findByPath(ctx, space, names) : null;
    if (folder === undefined || folder?.kind === "file") throw new ApiError(404, "no such folder");
    const items = listChildren(ctx, space, folder?.id ?? null, limit.data.limit).map((r) => nodeOf(ctx, r));
    return c.json({ folder: folder ? nodeOf(ctx, folder) : null, items }, 200);
  };
  // `…/list?path=a/b` and `…/content?path=a/b.txt` are the documented forms; `…/list/a/b` and
  // `…/content/a/b.txt` (segments percent-encoded) stay for the console, curl and older clients.
  app.get("/spaces/:space/list", list);
  app.get("/spaces/:space/list/*", list);

  const put = async (c: Context) => {
    const w = await putContent(ctx, files(), {
      caller: requireCaller(c),
      space: c.req.param("space") ?? "",
      names: namesOf(c, "content"),
      contentLength: c.req.header("content-length"),
      sha256: c.req.header("x-content-sha256"),
      ifMatch: c.req.header("if-match"),
      ifNoneMatch: c.req.header("if-none-match"),
      contentType: c.req.header("content-type"),
      body: () => incomingOf(c),
    });
    return c.json({ file: w.file }, w.created ? 201 : 200);
  };
  const get = (c: Context) => {
    const blob = contentAt(ctx, requireCaller(c), {
      space: c.req.param("space") ?? "",
      names: namesOf(c, "content"),
      version: c.req.query("version"),
    });
    return serveBlob(c, files(), blob, { inline: c.req.query("inline") === "1" });
  };
  app.put("/spaces/:space/content", put);
  app.put("/spaces/:space/content/*", put);
  app.get("/spaces/:space/content", get);
  app.get("/spaces/:space/content/*", get);

  jsonRoute(
    app,
    {
      method: "post",
      path: "/spaces/{space}/folders",
      operationId: "createFolder",
      summary: "Create a folder (and missing parents); 200 when it already exists",
      params: s.spaceParam,
      body: s.folderBody,
      response: s.folderOut,
      status: 201,
      alsoStatus: 200,
      errors: [404, 409],
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

  documentContentRoutes(app);
}
