/** Id-addressed routes: nodes (metadata, move, trash), versions, trash, resumable uploads, shares, quotas. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError, type Caller, jsonRoute, requireCaller } from "../../appliance/kit/index.js";
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
    { method: "get", path: "/nodes/{id}", summary: "A file or folder", ...route },
    (c, { params }) => c.json({ node: nodeOf(ctx, nodeFor(ctx, requireCaller(c), params.id)) }, 200),
  );

  jsonRoute(
    app,
    {
      method: "patch",
      path: "/nodes/{id}",
      summary: "Rename, move, or set metadata",
      ...route,
      body: s.patchNodeBody,
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
          ctx.db
            .prepare("UPDATE nodes SET metadata = ?, updated_at = ? WHERE id = ?")
            .run(JSON.stringify(body.metadata), new Date().toISOString(), n.id);
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
      summary: "Move to the trash (emits nexus.files.deleted)",
      ...route,
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
    { method: "post", path: "/nodes/{id}/restore", summary: "Bring an item back from the trash", ...route },
    (c, { params }) => {
      const caller = requireCaller(c);
      const node = ctx.tx(() => restoreNode(ctx, nodeFor(ctx, caller, params.id, { trashed: true })));
      return c.json({ node: nodeOf(ctx, node) }, 200);
    },
  );

  jsonRoute(
    app,
    { method: "get", path: "/nodes/{id}/versions", summary: "A file's versions, newest first", ...route },
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
      summary: "Make an old version current again (as a new version)",
      params: s.versionParams,
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
    { method: "get", path: "/trash", summary: "Trashed items of a space", query: s.trashQuery },
    (c, { query }) => {
      const space = requireSpace(requireCaller(c), query.space);
      return c.json({ items: listTrash(ctx, space).map((r) => nodeOf(ctx, r)) }, 200);
    },
  );

  jsonRoute(
    app,
    { method: "delete", path: "/trash/{id}", summary: "Purge a trashed item for good", ...route },
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
      summary: "Set a space's quota in bytes (0: unlimited, null: back to the default)",
      params: s.spaceParam,
      body: s.quotaBody,
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
      summary: "Start a resumable upload (reserves its size against the quota)",
      body: s.createUploadBody,
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
      summary: "An upload's confirmed offset; once committed, `complete: true` with its file",
      params: s.idParam,
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
    { method: "delete", path: "/uploads/{id}", summary: "Abandon an upload", params: s.idParam },
    async (c, { params }) => {
      await cancelUpload(ctx, files(), ownUpload(ctx, requireCaller(c), params.id));
      return c.json({ cancelled: params.id }, 200);
    },
  );
  app.patch("/uploads/:id", (c) => {
    const id = s.idParam.safeParse({ id: c.req.param("id") });
    if (!id.success) throw new ApiError(400, "malformed id");
    return appendUpload(c, ctx, files(), id.data.id);
  });
  app.openAPIRegistry.registerPath({
    method: "patch",
    path: "/uploads/{id}",
    summary:
      "Append bytes (raw body) at the Upload-Offset header; 409 with the confirmed offset when it differs. " +
      "The last byte completes the upload (201 with the file).",
    parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
    responses: { 200: { description: "bytes stored" }, 201: { description: "upload complete" } },
  });
}

function shareRoutes(app: OpenAPIHono, ctx: Ctx, files: () => Files) {
  jsonRoute(
    app,
    {
      method: "post",
      path: "/nodes/{id}/shares",
      summary: "Create a share link to a file (expiring, optional password)",
      params: s.idParam,
      body: s.shareBody,
      status: 201,
    },
    (c, { params, body }) => {
      const caller = requireCaller(c);
      if (body.expiresInSeconds > ctx.config.shareMaxSeconds) {
        throw new ApiError(400, `a share link lives at most ${ctx.config.shareMaxSeconds} seconds`);
      }
      const share = createShare(ctx, nodeFor(ctx, caller, params.id), caller.id, body);
      return c.json({ share: toShare(ctx, share) }, 201);
    },
  );
  jsonRoute(app, { method: "get", path: "/shares", summary: "Live share links you made" }, (c) =>
    c.json({ shares: listShares(ctx, requireCaller(c)).map((sh) => toShare(ctx, sh)) }, 200),
  );
  jsonRoute(
    app,
    { method: "delete", path: "/shares/{id}", summary: "Revoke a share link", params: s.idParam },
    (c, { params }) => c.json({ share: toShare(ctx, revokeShare(ctx, requireCaller(c), params.id)) }, 200),
  );

  // Public: the token is the credential. GET takes the password in x-share-password, POST in a JSON body.
  const download = async (c: Context, password: string | undefined) => {
    const { share, node } = openShare(ctx, c.req.param("token") ?? "", password);
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
  jsonRoute(
    app,
    {
      method: "post",
      path: "/s/{token}",
      summary: "Download a password-protected share",
      params: s.tokenParam,
      body: s.unlockBody,
    },
    (c, { body }) => download(c, body.password) as Promise<Response>,
  );
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/s/{token}",
    summary: "Download a shared file (public; x-share-password header when it has one)",
    parameters: [{ name: "token", in: "path", required: true, schema: { type: "string" } }],
    responses: { 200: { description: "the file" } },
  });
}
