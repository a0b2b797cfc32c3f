/** The folder tree: nodes by path, folders, listing, move/rename, trash, restore and purge. All synchronous SQL. */
import { randomUUID } from "node:crypto";
import { ApiError, type ServiceContext } from "../../appliance/kit/index.js";
import { joinPath, MAX_DEPTH, MAX_PATH_BYTES } from "./names.js";

type Ctx = ServiceContext<unknown>;

export interface NodeRow {
  id: string;
  space: string;
  parent_id: string | null;
  name: string;
  kind: "file" | "folder";
  version: number;
  size: number;
  sha256: string | null;
  content_type: string | null;
  metadata: string;
  created_by: string;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  trashed_with: string | null;
}

/** The node as the API shows it. */
export interface FileNode {
  id: string;
  space: string;
  path: string;
  name: string;
  kind: "file" | "folder";
  size: number;
  sha256: string | null;
  contentType: string | null;
  version: number;
  metadata: Record<string, string | number | boolean | null>;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
}

export function toNode(row: NodeRow, path: string): FileNode {
  return {
    id: row.id,
    space: row.space,
    path,
    name: row.name,
    kind: row.kind,
    size: row.size,
    sha256: row.sha256,
    contentType: row.content_type,
    version: row.version,
    metadata: JSON.parse(row.metadata) as FileNode["metadata"],
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
  };
}

export function nodeRow(ctx: Ctx, id: string): NodeRow | undefined {
  return ctx.db.prepare("SELECT * FROM nodes WHERE id = ?").get(id) as NodeRow | undefined;
}

/** The live child `name` of `parentId` (null: the space root). */
export function childNamed(ctx: Ctx, space: string, parentId: string | null, name: string) {
  return ctx.db
    .prepare(
      "SELECT * FROM nodes WHERE space = ? AND IFNULL(parent_id, '') = ? AND name = ? AND deleted_at IS NULL",
    )
    .get(space, parentId ?? "", name) as NodeRow | undefined;
}

/** The live node at `names`, or undefined (the root has no node). */
export function findByPath(ctx: Ctx, space: string, names: readonly string[]): NodeRow | undefined {
  let node: NodeRow | undefined;
  for (const name of names) {
    node = childNamed(ctx, space, node?.id ?? null, name);
    if (!node) return undefined;
  }
  return node;
}

/** The path of a node, from the root of its space. */
export function pathOf(ctx: Ctx, id: string): string {
  const rows = ctx.db
    .prepare(
      `WITH RECURSIVE up(id, parent_id, name, depth) AS (
         SELECT id, parent_id, name, 0 FROM nodes WHERE id = ?
         UNION ALL SELECT n.id, n.parent_id, n.name, up.depth + 1 FROM nodes n JOIN up ON n.id = up.parent_id)
       SELECT name FROM up ORDER BY depth DESC`,
    )
    .all(id) as { name: string }[];
  return joinPath(rows.map((r) => r.name));
}

export const nodeOf = (ctx: Ctx, row: NodeRow) => toNode(row, pathOf(ctx, row.id));

const now = () => new Date().toISOString();

/**
 * Inserts folder `name` unless a live node has that name; the unique index on live names decides, so of two
 * writers only one inserts. Returns the node now there and whether this call made it.
 */
function insertFolder(ctx: Ctx, space: string, parentId: string | null, name: string, by: string) {
  const t = now();
  const id = randomUUID();
  const r = ctx.db
    .prepare(
      `INSERT INTO nodes (id, space, parent_id, name, kind, created_by, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'folder', ?, ?, ?) ON CONFLICT DO NOTHING`,
    )
    .run(id, space, parentId, name, by, t, t);
  const created = r.changes === 1;
  return { node: created ? nodeRow(ctx, id)! : childNamed(ctx, space, parentId, name)!, created };
}

/** The folder at `names`, creating missing ones; 409 when a file stands in the way. Null for the root. */
export function ensureFolders(ctx: Ctx, space: string, names: readonly string[], by: string): NodeRow | null {
  return makeFolders(ctx, space, names, by).folder;
}

/**
 * `ensureFolders`, and whether this call created the last folder. Run it in a transaction that holds the write
 * lock (an immediate one) for an answer no other writer can make stale.
 */
export function makeFolders(ctx: Ctx, space: string, names: readonly string[], by: string) {
  let parent = null as NodeRow | null;
  let created = false;
  for (const name of names) {
    const found = childNamed(ctx, space, parent?.id ?? null, name);
    const next = found
      ? { node: found, created: false }
      : insertFolder(ctx, space, parent?.id ?? null, name, by);
    if (next.node.kind !== "folder") {
      throw new ApiError(409, "a file is in the way of that folder", { path: pathOf(ctx, next.node.id) });
    }
    parent = next.node;
    created = next.created;
  }
  return { folder: parent, created };
}

/** 409 unless a file can be written at `names`: no file in the way of its folders, no folder at the path. */
export function requireFileSpot(ctx: Ctx, space: string, names: readonly string[]): void {
  let node: NodeRow | undefined;
  for (const [i, name] of names.entries()) {
    node = childNamed(ctx, space, node?.id ?? null, name);
    if (!node) return;
    if (node.kind === "file" && i < names.length - 1) {
      throw new ApiError(409, "a file is in the way of that folder", { path: pathOf(ctx, node.id) });
    }
  }
  if (node?.kind === "folder") throw new ApiError(409, "a folder has that name");
}

/** Children of a folder: folders first, then by name. */
export function listChildren(ctx: Ctx, space: string, parentId: string | null, limit: number): NodeRow[] {
  return ctx.db
    .prepare(
      `SELECT * FROM nodes WHERE space = ? AND IFNULL(parent_id, '') = ? AND deleted_at IS NULL
       ORDER BY kind DESC, name LIMIT ?`,
    )
    .all(space, parentId ?? "", limit) as NodeRow[];
}

/** Ids of a node and everything below it, deepest first. */
export function subtree(ctx: Ctx, id: string): string[] {
  const rows = ctx.db
    .prepare(
      `WITH RECURSIVE d(id, depth) AS (
         SELECT ?, 0 UNION ALL SELECT n.id, d.depth + 1 FROM nodes n JOIN d ON n.parent_id = d.id)
       SELECT id FROM d ORDER BY depth DESC`,
    )
    .all(id) as { id: string }[];
  return rows.map((r) => r.id);
}

/** Renames and/or moves a live node inside its space; 409 on a name taken, 400 on a move into itself. */
export function moveNode(ctx: Ctx, node: NodeRow, to: { name?: string; parent?: NodeRow | null }): NodeRow {
  const parentId = to.parent === undefined ? node.parent_id : (to.parent?.id ?? null);
  const name = to.name ?? node.name;
  if (parentId && subtree(ctx, node.id).includes(parentId)) {
    throw new ApiError(400, "a folder cannot move into itself");
  }
  const taken = childNamed(ctx, node.space, parentId, name);
  if (taken && taken.id !== node.id) throw new ApiError(409, "that name is taken in the target folder");
  requirePathLimits(ctx, node.id, parentId ? pathOf(ctx, parentId) : "", name);
  ctx.db
    .prepare("UPDATE nodes SET parent_id = ?, name = ?, updated_at = ? WHERE id = ?")
    .run(parentId, name, now(), node.id);
  return nodeRow(ctx, node.id)!;
}

/** 400 when `name` in the folder at `parentPath` would put the node or something below it past the limits. */
function requirePathLimits(ctx: Ctx, id: string, parentPath: string, name: string): void {
  const below = ctx.db
    .prepare(
      `WITH RECURSIVE d(id, depth, bytes) AS (
         SELECT ?, 0, 0
         UNION ALL SELECT n.id, d.depth + 1, d.bytes + 1 + length(CAST(n.name AS BLOB))
         FROM nodes n JOIN d ON n.parent_id = d.id)
       SELECT MAX(depth) AS depth, MAX(bytes) AS bytes FROM d`,
    )
    .get(id) as { depth: number; bytes: number };
  const prefix = parentPath === "" ? 0 : Buffer.byteLength(parentPath) + 1;
  const levels = (parentPath === "" ? 0 : parentPath.split("/").length) + 1 + below.depth;
  if (levels > MAX_DEPTH) throw new ApiError(400, `folders nest at most ${MAX_DEPTH} deep`);
  if (prefix + Buffer.byteLength(name) + below.bytes > MAX_PATH_BYTES) {
    throw new ApiError(400, `a path is at most ${MAX_PATH_BYTES} bytes`);
  }
}

/** Moves a node and its live descendants to the trash, together (restored together). */
export function trashNode(ctx: Ctx, node: NodeRow): void {
  const t = now();
  const update = ctx.db.prepare(
    "UPDATE nodes SET deleted_at = ?, trashed_with = ? WHERE id = ? AND deleted_at IS NULL",
  );
  for (const id of subtree(ctx, node.id)) update.run(t, node.id, id);
}

/** Brings back what one trash operation took; 409 when the name is taken again or the folder is gone. */
export function restoreNode(ctx: Ctx, node: NodeRow): NodeRow {
  if (!node.deleted_at || node.trashed_with !== node.id) throw new ApiError(409, "not a trashed item");
  const parent = node.parent_id ? nodeRow(ctx, node.parent_id) : null;
  if (parent?.deleted_at) throw new ApiError(409, "its folder is in the trash: restore that first");
  if (childNamed(ctx, node.space, node.parent_id, node.name)) {
    throw new ApiError(409, "a live item has that name now: rename or delete it first");
  }
  ctx.db
    .prepare("UPDATE nodes SET deleted_at = NULL, trashed_with = NULL WHERE trashed_with = ?")
    .run(node.id);
  return nodeRow(ctx, node.id)!;
}

/** Deletes a node, everything below it and their versions. Returns the sha256s they referenced. */
export function purgeNode(ctx: Ctx, node: NodeRow): string[] {
  const ids = subtree(ctx, node.id);
  const shas = new Set<string>();
  const versions = ctx.db.prepare("SELECT sha256 FROM versions WHERE node_id = ?");
  const del = ctx.db.prepare("DELETE FROM nodes WHERE id = ?");
  for (const id of ids) {
    for (const v of versions.all(id) as { sha256: string }[]) shas.add(v.sha256);
    del.run(id);
  }
  return [...shas];
}

/**
 * Purges a trashed item and records `nexus.files.deleted` (purged) in one transaction; returns the sha256s it
 * released. Nothing when it is gone already (purged with a folder it was in).
 */
export function purgeTrashed(ctx: Ctx, node: NodeRow, by: string): string[] {
  return ctx.tx(() => {
    if (!nodeRow(ctx, node.id)) return [];
    const path = pathOf(ctx, node.id);
    const released = purgeNode(ctx, node);
    ctx.emit("deleted", { nodeId: node.id, space: node.space, path, kind: node.kind, purged: true, by });
    return released;
  });
}

/** Top-level trashed items of a space (what one delete took), newest first. */
export function listTrash(ctx: Ctx, space: string): NodeRow[] {
  return ctx.db
    .prepare("SELECT * FROM nodes WHERE space = ? AND trashed_with = id ORDER BY deleted_at DESC LIMIT 1000")
    .all(space) as NodeRow[];
}

/** Trashed items older than `before` (ISO time), oldest first, for the retention sweep. */
export function expiredTrash(ctx: Ctx, before: string): NodeRow[] {
  return ctx.db
    .prepare("SELECT * FROM nodes WHERE trashed_with = id AND deleted_at < ? ORDER BY deleted_at LIMIT 500")
    .all(before) as NodeRow[];
}
