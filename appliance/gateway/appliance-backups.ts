/**
 * The handlers of the backup routes (appliance-backup-routes.ts): thin, each calls the box's backups
 * (appliance/backup/box-backups.ts). A backup id that is not at the destination is 404 before any job starts.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { BoxBackups } from "../backup/box-backups.js";
import type { JobKind } from "../backup/jobs.js";
import { ApiError } from "../kit/index.js";
import * as r from "./appliance-backup-routes.js";

// biome-ignore lint/suspicious/noExplicitAny: the app's Env and base path are the appliance API's own
type App = OpenAPIHono<any, any, any>;

/** Refuses an action when no destination is configured (nothing could run). */
function needsDestination(backups: BoxBackups) {
  if (!backups.configured()) {
    throw new ApiError(409, "no backup destination is configured: set backup.destination in config.json");
  }
}

/** 404 unless the destination lists a complete backup with this id. */
async function needsBackup(backups: BoxBackups, id: string) {
  needsDestination(backups);
  const o = await backups.overview();
  if (o.listError) throw new ApiError(503, `the backup destination cannot be read: ${o.listError}`);
  if (!o.backups.some((b) => b.id === id)) throw new ApiError(404, "no such backup", { id });
}

/** Registers the backup routes on the appliance API's app. */
export function mountBackupRoutes(app: App, backups: BoxBackups) {
  const start = (kind: JobKind, opts: Parameters<BoxBackups["jobs"]["start"]>[1] = {}) =>
    backups.jobs.start(kind, opts);
  app.openapi(r.listBackupsRoute, async (c) => c.json(await backups.overview(), 200));
  app.openapi(r.backupJobRoute, (c) => {
    const job = backups.jobs.job(c.req.valid("param").id);
    if (!job) throw new ApiError(404, "no such backup job (jobs are kept until the box restarts)");
    return c.json(job, 200);
  });
  app.openapi(r.createBackupRoute, async (c) => {
    needsDestination(backups);
    const body =
      c.req.header("content-length") && c.req.header("content-length") !== "0" ? c.req.valid("json") : {};
    return c.json(start("backup", { reason: "manual", includeSecrets: body.includeSecrets }), 202);
  });
  app.openapi(r.pruneBackupsRoute, (c) => {
    needsDestination(backups);
    return c.json(start("prune"), 202);
  });
  for (const [route, kind] of [
    [r.verifyBackupRoute, "verify"],
    [r.restoreDryRunRoute, "restore-dry-run"],
  ] as const) {
    app.openapi(route, async (c) => {
      const { id } = c.req.valid("param");
      await needsBackup(backups, id);
      return c.json(start(kind, { backupId: id }), 202);
    });
  }
}
