/** Id-addressed routes: nodes (metadata, move, trash), versions, trash, resumable uploads, shares, quotas. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { z } from "zod";
import {
  ApiError,
  binaryContent,
  type Caller,
  documentRoute,
  jsonRoute,
  requireCaller,
} from "../../appliance/kit/index.js";
import { withAiKeys } from "./ai-metadata.js";
import { appendRequestOf, withUploadOffset } from "./http.js";
import { checkName, contentTypeOf, parsePath } from "./names.js";
import {
  findByPath,
  listTrash,
  moveNode,
  type NodeRow,
  nodeOf,
  nodeRow,
  pathOf,
  purgeTrashed,
  restoreNode,
  trashNode,
} from "./nodes.js";
import { requireRoom, setQuota, spaceUsage } from "./quota.js";
import * as s from "./schemas.js";
import { serveBlob } from "./serve.js";
import { countDownload, createShare, listShares, openShare, revokeShare, toShare } from "./shares.js";
import { canUse, requireSpace, spaceId } from "./spaces.js";
import { type Ctx, type Files, releaseBlobs } from "./state.js";
import { appendUpload, cancelUpload, createUpload, ownUpload, toUpload, uploadStatus } from "./uploads.js";
import { listVersions, restoreVersion, toVersion, versionRow } from "./versions.js";

/** A node in a space the caller may use; 404 otherwise (others' ids reveal nothing). */
export function nodeFor(ctx: Ctx, caller: Caller, id: string, opts: { trashed?: boolean } = {}): NodeRow {
  const node = nodeRow(ctx, id);
  if (!node || !canUse(caller, node.space) || !!node.deleted_at !== !!opts.trashed) {
    throw new ApiError(404, opts.trashed ? "no such item in the trash" : "no such file or folder");
  }
  return node;
}

export function nodeRoutes(app: OpenAPIHono, ctx: Ctx, files: () => Files) {
  const route = { params: s.idParam };

  jsonRoute(
    app,
    {
      method: "get",
      path: "/nodes/{id}",
      operationId: "getNode",
      summary: "A file or folder",
      ...route,
      response: s.nodeOut,
      errors: [404],
    },
    (c, { params }) => c.json({ node: nodeOf(ctx, nodeFor(ctx, requireCaller(c), params.id)) }, 200),
  );

  jsonRoute(
    app,
    {
      method: "patch",
      path: "/nodes/{id}",
      operationId: "updateNode",
      summary: "Rename, move, or set metadata",
      ...route,
      body: s.patchNodeBody,
      response: s.nodeOut,
      errors: [404, 409],
    },
    (c, { params, body }) => {
      const caller = requireCaller(c);
      const node = ctx.tx(() => {
        let n = nodeFor(ctx, caller, params.id);
        if (body.name !== undefined || body.parentPath !== undefined) {
          const parent =
            body.parentPath === undefined
              ? undefined
              : folderAt(ctx, n.space, parsePathOrRoot(body.parentPath));
          n = moveNode(ctx, n, { name: body.name === undefined ? undefined : checkName(body.name), parent });
        }
        if (body.metadata !== undefined) {
          const metadata = withAiKeys(nodeRow(ctx, n.id)!.metadata, body.metadata);
          ctx.db
            .prepare("UPDATE nodes SET metadata = ?, updated_at = ? WHERE id = ?")
            .run(metadata, new Date().toISOString(), n.id);
        }
        return nodeRow(ctx, n.id)!;
      });
      return c.json({ node: nodeOf(ctx, node) }, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "delete",
      path: "/nodes/{id}",
      operationId: "trashNode",
      summary: "Move to the trash (emits nexus.files.deleted)",
      ...route,
      response: s.nodeOut,
      errors: [404],
    },
    (c, { params }) => {
      const caller = requireCaller(c);
      const node = ctx.tx(() => {
        const n = nodeFor(ctx, caller, params.id);
        const path = pathOf(ctx, n.id);
        trashNode(ctx, n);
        ctx.emit("deleted", {
          nodeId: n.id,
          space: n.space,
          path,
          kind: n.kind,
          purged: false,
          by: caller.id,
        });
        return nodeRow(ctx, n.id)!;
      });
      return c.json({ node: nodeOf(ctx, node) }, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "post",
      path: "/nodes/{id}/restore",
      operationId: "restoreNode",
      summary: "Bring an item back from the trash",
      ...route,
      response: s.nodeOut,
      errors: [404, 409],
    },
    (c, { params }) => {
      const caller = requireCaller(c);
      const node = ctx.tx(() => restoreNode(ctx, nodeFor(ctx, caller, params.id, { trashed: true })));
      return c.json({ node: nodeOf(ctx, node) }, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "get",
      path: "/nodes/{id}/versions",
      operationId: "listVersions",
      summary: "A file's versions, newest first",
      ...route,
      response: s.versionsOut,
      errors: [404],
    },
    (c, { params }) => {
      const node = nodeFor(ctx, requireCaller(c), params.id);
      return c.json({ versions: listVersions(ctx, node.id).map(toVersion) }, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "post",
      path: "/nodes/{id}/versions/{version}/restore",
      operationId: "restoreVersion",
      summary: "Make an old version current again (as a new version)",
      params: s.versionParams,
      response: s.fileOut,
      errors: [404, 507],
    },
    async (c, { params }) => {
      const caller = requireCaller(c);
      const node = nodeFor(ctx, caller, params.id);
      if (node.kind !== "file") throw new ApiError(400, "folders have no versions");
      const old = versionRow(ctx, node.id, params.version);
      // A restored version is a new version: it counts against the quota like an upload of its size.
      if (old) requireRoom(ctx, node.space, old.size, ctx.config);
      const w = restoreVersion(ctx, node, params.version, caller.id, ctx.config.keepVersions);
      await releaseBlobs(ctx, files(), w.released);
      return c.json({ file: w.file }, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "get",
      path: "/trash",
      operationId: "listTrash",
      summary: "Trashed items of a space",
      query: s.trashQuery,
      response: s.itemsOut,
      errors: [404],
    },
    (c, { query }) => {
      const space = requireSpace(requireCaller(c), query.space);
      return c.json({ items: listTrash(ctx, space).map((r) => nodeOf(ctx, r)) }, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "delete",
      path: "/trash/{id}",
      operationId: "purgeTrashed",
      summary: "Purge a trashed item for good",
      ...route,
      response: s.purgedOut,
      errors: [404],
    },
    async (c, { params }) => {
      const caller = requireCaller(c);
      const shas = purgeTrashed(ctx, nodeFor(ctx, caller, params.id, { trashed: true }), caller.id);
      await releaseBlobs(ctx, files(), shas);
      return c.json({ purged: params.id }, 200);
    },
  );

  uploadRoutes(app, ctx, files);
  shareRoutes(app, ctx, files);

  jsonRoute(
    app,
    {
      method: "put",
      path: "/quotas/{space}",
      operationId: "setQuota",
      summary: "Set a space's quota in bytes (0: unlimited, null: back to the default)",
      params: s.spaceParam,
      body: s.quotaBody,
      response: s.quotaOut,
    },
    (c, { params, body }) => {
      const space = spaceId(requireCaller(c), params.space);
      setQuota(ctx, space, body.bytes);
      return c.json({ space, ...spaceUsage(ctx, space, ctx.config) }, 200);
    },
  );
}

function parsePathOrRoot(path: string): string[] {
  return path === "" ? [] : parsePath(path);
}

function folderAt(ctx: Ctx, space: string, names: string[]): NodeRow | null {
  if (names.length === 0) return null;
  const folder = findByPath(ctx, space, names);
  if (folder?.kind !== "folder") throw new ApiError(404, "no such target folder");
  return folder;
}

function uploadRoutes(app: OpenAPIHono, ctx: Ctx, files: () => Files) {
  jsonRoute(
    app,
    {
      method: "post",
      path: "/uploads",
      operationId: "createUpload",
      summary: "Start a resumable upload (reserves its size against the quota)",
      body: s.createUploadBody,
      response: s.uploadOut,
      errors: [404, 409, 413, 507],
      status: 201,
    },
    async (c, { body }) => {
      const u = await createUpload(ctx, files(), requireCaller(c), {
        ...body,
        contentType: contentTypeOf(body.contentType),
      });
      c.header("upload-offset", "0");
      c.header("location", `/api/files/uploads/${u.id}`);
      return c.json({ upload: toUpload(u) }, 201);
    },
  );
  jsonRoute(
    app,
    {
      method: "get",
      path: "/uploads/{id}",
      operationId: "getUpload",
      summary: "An upload's confirmed offset; once committed, `complete: true` with its file",
      params: s.idParam,
      response: s.uploadStatusOut,
      errors: [404],
    },
    (c, { params }) => {
      const u = uploadStatus(ctx, requireCaller(c), params.id);
      c.header("upload-offset", String(u.offset));
      c.header("upload-length", String(u.size));
      return c.json(u.body, 200);
    },
  );
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/uploads/{id}",
      operationId: "cancelUpload",
      summary: "Abandon an upload",
      params: s.idParam,
      response: s.cancelledOut,
      errors: [404, 409],
    },
    async (c, { params }) => {
      await cancelUpload(ctx, files(), ownUpload(ctx, requireCaller(c), params.id));
      return c.json({ cancelled: params.id }, 200);
    },
  );
  app.patch("/uploads/:id", async (c) => {
    const id = s.idParam.safeParse({ id: c.req.param("id") });
    if (!id.success) throw new ApiError(400, "malformed id");
    const r = await withUploadOffset(c, appendUpload(ctx, files(), appendRequestOf(c, id.data.id)));
    c.header("upload-offset", String(r.offset));
    return c.json({ upload: r.upload, file: r.file }, r.status);
  });
  documentRoute(app, {
    method: "patch",
    path: "/uploads/{id}",
    operationId: "appendUpload",
    summary:
      "Append bytes (raw body) at the Upload-Offset header; 409 with the confirmed offset when it differs. " +
      "The last byte completes the upload (201 with the file).",
    request: {
      params: s.idParam,
      headers: z.object({ "upload-offset": z.string().regex(/^\d+$/).describe("Where these bytes start") }),
      body: { content: binaryContent(), required: true },
    },
    responses: {
      200: json(s.uploadOut, "bytes stored; Upload-Offset says how many in all"),
      201: json(s.fileOut, "upload complete: the file"),
    },
    errors: [404, 409, 413, 507],
  });
}

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

function shareRoutes(app: OpenAPIHono, ctx: Ctx, files: () => Files) {
  jsonRoute(
    app,
    {
      method: "post",
      path: "/nodes/{id}/shares",
      operationId: "createShare",
      summary: "Create a share link to a file (expiring, optional password)",
      params: s.idParam,
      body: s.shareBody,
      response: s.shareOut,
      errors: [404],
      status: 201,
    },
    async (c, { params, body }) => {
      const caller = requireCaller(c);
      if (body.expiresInSeconds > ctx.config.shareMaxSeconds) {
        throw new ApiError(400, `a share link lives at most ${ctx.config.shareMaxSeconds} seconds`);
      }
      const share = await createShare(ctx, nodeFor(ctx, caller, params.id), caller.id, body);
      return c.json({ share: toShare(ctx, share) }, 201);
    },
  );
  jsonRoute(
    app,
    {
      method: "get",
      path: "/shares",
      operationId: "listShares",
      summary: "Live share links you made",
      response: s.sharesOut,
    },
    (c) => c.json({ shares: listShares(ctx, requireCaller(c)).map((sh) => toShare(ctx, sh)) }, 200),
  );
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/shares/{id}",
      operationId: "revokeShare",
      summary: "Revoke a share link",
      params: s.idParam,
      response: s.shareOut,
      errors: [404],
    },
    (c, { params }) => c.json({ share: toShare(ctx, revokeShare(ctx, requireCaller(c), params.id)) }, 200),
  );

  // Public: the token is the credential. GET takes the password in x-share-password, POST in a JSON body.
  const download = async (c: Context, password: string | undefined) => {
    const { share, node } = await openShare(ctx, c.req.param("token") ?? "", password);
    return serveBlob(
      c,
      files(),
      {
        sha256: node.sha256!,
        size: node.size,
        contentType: node.content_type ?? "application/octet-stream",
        name: node.name,
        modifiedAt: node.updated_at,
      },
      { onBody: () => countDownload(ctx, share) }, // HEAD and 304 are no downloads
    );
  };
  app.get("/s/:token", (c) => download(c, c.req.header("x-share-password")));
  app.post("/s/:token", async (c) => {
    const body = s.unlockBody.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) {
      const issues = body.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
      throw new ApiError(400, "invalid request", { issues });
    }
    return download(c, body.data.password);
  });
  documentShareDownloads(app);
}

function documentShareDownloads(app: OpenAPIHono) {
  const file = { 200: { description: "the file", content: binaryContent() } };
  documentRoute(app, {
    method: "get",
    path: "/s/{token}",
    operationId: "downloadShare",
    summary: "Download a shared file (public; the x-share-password header when it has one)",
    request: {
      params: s.tokenParam,
      headers: z.object({ "x-share-password": z.string().optional().describe("The share's password") }),
    },
    responses: file,
    errors: [401, 404, 410],
  });
  documentRoute(app, {
    method: "post",
    path: "/s/{token}",
    operationId: "downloadShareWithPassword",
    summary: "Download a password-protected share, the password in the body",
    request: {
      params: s.tokenParam,
      body: { content: { "application/json": { schema: s.unlockBody } }, required: true },
    },
    responses: file,
    errors: [401, 404, 410],
  });
}
