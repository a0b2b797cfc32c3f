/** File versions: writing content at a path makes version 1 or the next one, and keeps the previous ones. */
import { randomUUID } from "node:crypto";
import { ApiError, type ServiceContext } from "../../appliance/kit/index.js";
import { ensureFolders, type FileNode, findByPath, type NodeRow, nodeOf, nodeRow } from "./nodes.js";

type Ctx = ServiceContext<unknown>;

export interface VersionRow {
  node_id: string;
  version: number;
  sha256: string;
  size: number;
  content_type: string;
  created_by: string;
  created_at: string;
}

export const toVersion = (v: VersionRow) => ({
  version: v.version,
  sha256: v.sha256,
  size: v.size,
  contentType: v.content_type,
  createdBy: v.created_by,
  createdAt: v.created_at,
});

export function listVersions(ctx: Ctx, nodeId: string): VersionRow[] {
  return ctx.db
    .prepare("SELECT * FROM versions WHERE node_id = ? ORDER BY version DESC")
    .all(nodeId) as VersionRow[];
}

export function versionRow(ctx: Ctx, nodeId: string, version: number): VersionRow | undefined {
  return ctx.db.prepare("SELECT * FROM versions WHERE node_id = ? AND version = ?").get(nodeId, version) as
    | VersionRow
    | undefined;
}

export interface NewContent {
  space: string;
  names: readonly string[];
  sha256: string;
  size: number;
  contentType: string;
  by: string;
  /** `If-Match`: the sha256s one of which the current version must have (412 otherwise); `*`: it must exist. */
  ifMatch?: "*" | readonly string[];
  /** `If-None-Match: *`: the file must not exist yet (412 otherwise). */
  ifNoneMatch?: boolean;
}

export interface VersionEvent {
  nodeId: string;
  space: string;
  path: string;
  version: number;
  sha256: string;
  size: number;
  contentType: string;
  by: string;
}

const versionHooks = new WeakMap<object, (e: VersionEvent) => void>();

/** Runs `hook` inside the transaction of every new version of `ctx` (sync with the hub uses it). */
export function onNewVersion(ctx: Ctx, hook: (e: VersionEvent) => void): void {
  versionHooks.set(ctx, hook);
}

export interface Written {
  file: FileNode;
  created: boolean;
  /** Blobs no version references any more (older versions pruned past the limit). */
  released: string[];
}

/**
 * Records content (already in the blob store) at a path, in one transaction with its event: a new file
 * (`nexus.files.uploaded`) or the next version of the file there (`nexus.files.versioned`).
 */
export function writeVersion(
  ctx: Ctx,
  c: NewContent,
  keepVersions: number,
  inTx?: () => void,
  /** Runs last inside the transaction, with what was written (a resumable upload records its outcome). */
  onWritten?: (w: { file: FileNode; version: number }) => void,
): Written {
  // Immediate: the path lookup and the write see the latest state even with another writer on the database.
  return ctx.db
    .transaction(() => {
      inTx?.();
      const parent = ensureFolders(ctx, c.space, c.names.slice(0, -1), c.by);
      const name = c.names.at(-1)!;
      const existing = findByPath(ctx, c.space, c.names);
      if (existing?.kind === "folder") throw new ApiError(409, "a folder has that name");
      checkPreconditions(existing, c);
      const t = new Date().toISOString();
      let node: NodeRow;
      if (existing) {
        node = existing;
        ctx.db
          .prepare(
            "UPDATE nodes SET version = ?, size = ?, sha256 = ?, content_type = ?, updated_at = ? WHERE id = ?",
          )
          .run(existing.version + 1, c.size, c.sha256, c.contentType, t, existing.id);
      } else {
        const id = randomUUID();
        ctx.db
          .prepare(
            `INSERT INTO nodes (id, space, parent_id, name, kind, version, size, sha256, content_type,
             created_by, created_at, updated_at) VALUES (?, ?, ?, ?, 'file', 1, ?, ?, ?, ?, ?, ?)`,
          )
          .run(id, c.space, parent?.id ?? null, name, c.size, c.sha256, c.contentType, c.by, t, t);
        node = nodeRow(ctx, id)!;
      }
      const version = existing ? existing.version + 1 : 1;
      ctx.db
        .prepare(
          `INSERT INTO versions (node_id, version, sha256, size, content_type, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(node.id, version, c.sha256, c.size, c.contentType, c.by, t);
      const released = pruneVersions(ctx, node.id, keepVersions);
      const file = nodeOf(ctx, nodeRow(ctx, node.id)!);
      const event = {
        nodeId: file.id,
        space: file.space,
        path: file.path,
        version,
        sha256: c.sha256,
        size: c.size,
        contentType: c.contentType,
        by: c.by,
      };
      if (existing) ctx.emit("versioned", { ...event, previousVersion: existing.version });
      else ctx.emit("uploaded", event);
      versionHooks.get(ctx)?.(event);
      onWritten?.({ file, version });
      return { file, created: !existing, released };
    })
    .immediate();
}

function checkPreconditions(existing: NodeRow | undefined, c: NewContent): void {
  if (c.ifNoneMatch && existing) throw new ApiError(412, "the file exists (If-None-Match: *)");
  if (c.ifMatch === undefined) return;
  if (!existing) throw new ApiError(412, "the file does not exist (If-Match)");
  if (c.ifMatch !== "*" && !c.ifMatch.includes(existing.sha256 ?? "")) {
    throw new ApiError(412, "the file changed since you read it (If-Match)", { current: existing.sha256 });
  }
}

/** Drops versions past the newest `keep`; returns sha256s no version references any more. */
function pruneVersions(ctx: Ctx, nodeId: string, keep: number): string[] {
  const old = ctx.db
    .prepare("SELECT version, sha256 FROM versions WHERE node_id = ? ORDER BY version DESC LIMIT -1 OFFSET ?")
    .all(nodeId, keep) as { version: number; sha256: string }[];
  const del = ctx.db.prepare("DELETE FROM versions WHERE node_id = ? AND version = ?");
  for (const v of old) del.run(nodeId, v.version);
  // Media (and anything else derived from a version) drops what it made of these.
  if (old.length > 0) ctx.emit("version-purged", { nodeId, versions: old.map((v) => v.version) });
  return unreferenced(
    ctx,
    old.map((v) => v.sha256),
  );
}

/** Of `shas`, those no version references. */
export function unreferenced(ctx: Ctx, shas: readonly string[]): string[] {
  const used = ctx.db.prepare("SELECT 1 FROM versions WHERE sha256 = ? LIMIT 1");
  return [...new Set(shas)].filter((s) => !used.get(s));
}

/** Makes an old version current again (a new version with its content; nothing is copied). */
export function restoreVersion(ctx: Ctx, node: NodeRow, version: number, by: string, keep: number): Written {
  const v = versionRow(ctx, node.id, version);
  if (!v) throw new ApiError(404, "no such version");
  const names = pathNames(ctx, node);
  return writeVersion(
    ctx,
    { space: node.space, names, sha256: v.sha256, size: v.size, contentType: v.content_type, by },
    keep,
  );
}

function pathNames(ctx: Ctx, node: NodeRow): string[] {
  const names = [node.name];
  let parent = node.parent_id ? nodeRow(ctx, node.parent_id) : undefined;
  while (parent) {
    names.unshift(parent.name);
    parent = parent.parent_id ? nodeRow(ctx, parent.parent_id) : undefined;
  }
  return names;
}
