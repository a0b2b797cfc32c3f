/**
 * The backup routes of the gateway's own API (`/api/appliance/backups…`) as OpenAPI definitions. Reading
 * needs `appliance:read`; starting a backup, a verify, a prune or a restore dry run needs `appliance:write`.
 * Each action starts a job (202 with the job) whose progress `GET /backups/jobs/{id}` shows; one job runs at a
 * time (409 otherwise). A restore itself needs the box stopped, so it is the CLI's (`nexus backup restore`);
 * the API offers its dry run: what a restore would change.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { APPLIANCE_TAG, COMMON, errors, get, json, noQuery } from "./appliance-routes.js";

const BACKUP_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const idParams = z.object({
  id: z
    .string()
    .regex(BACKUP_ID, "a backup id: letters, digits, '.', '_', '-'")
    .openapi({ param: { name: "id", in: "path" }, example: "20261207T023000Z-1a2b" }),
});
const jobParams = z.object({
  id: z
    .uuid()
    .openapi({ param: { name: "id", in: "path" }, example: "0b7c7e0e-1f7a-4d43-9b53-0f5b8a1d6f10" }),
});

const progress = z.object({
  phase: z.enum(["databases", "blobs", "config", "upload", "verify", "restore", "done"]),
  bytesDone: z.number(),
  bytesTotal: z.number(),
  current: z.string().optional(),
});

export const backupJobSchema = z
  .object({
    id: z.string(),
    kind: z.enum(["backup", "verify", "prune", "restore-dry-run"]),
    reason: z.enum(["manual", "scheduled", "before-upgrade"]).nullable(),
    backupId: z.string().nullable(),
    state: z.enum(["running", "succeeded", "failed"]),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    progress: progress.nullable(),
    result: z.unknown().openapi({
      description:
        "backup: { backup, pruned }; verify: { ok, problems? }; prune: { kept, removed }; restore-dry-run: { changes, applied }",
    }),
    error: z.string().nullable(),
    includeSecrets: z
      .boolean()
      .optional()
      .openapi({ description: "a backup's own choice over the config's" }),
  })
  .openapi("BackupJob");

const summary = z.object({
  id: z.string(),
  createdAt: z.string(),
  reason: z.enum(["manual", "scheduled", "before-upgrade"]),
  applianceVersion: z.string(),
  siteId: z.string().nullable(),
  sizeBytes: z.number(),
  blobsCopied: z.number(),
  blobsReferenced: z.number(),
  secretsIncluded: z.boolean(),
});

export const backupsSchema = z
  .object({
    destination: z.string().nullable().openapi({ description: "where backups go; null: none configured" }),
    schedule: z.string().openapi({ description: "5-field cron (local time), or off" }),
    nextRunAt: z.string().nullable(),
    retention: z.object({ keepLast: z.number(), keepDaily: z.number(), keepWeekly: z.number() }),
    lastSuccessAt: z.string().nullable(),
    lastFailureAt: z.string().nullable(),
    lastError: z.string().nullable(),
    lastDurationSeconds: z.number().nullable(),
    lastBytes: z.number().nullable(),
    running: backupJobSchema.nullable(),
    backups: z.array(summary).openapi({ description: "newest first, complete backups only" }),
    listError: z
      .string()
      .nullable()
      .openapi({ description: "why the list is empty: the destination failed" }),
  })
  .openapi("Backups");

/** The optional body of `POST /backups`. */
export const createBackupBody = z
  .object({
    includeSecrets: z.boolean().optional().openapi({ description: "default: backup.includeSecrets" }),
  })
  .strict();

const job202 = { 202: json(backupJobSchema, "started; follow it at /backups/jobs/{id}") };
const post = (path: string, operationId: string, summary: string) => ({
  method: "post" as const,
  path,
  operationId,
  summary,
  tags: [APPLIANCE_TAG],
});

export const listBackupsRoute = createRoute({
  ...get(
    "/backups",
    "applianceBackups",
    "Backups: the list, last success, next run, destination, the running job",
  ),
  request: { query: noQuery },
  responses: { 200: json(backupsSchema, "the box's backups"), ...errors(...COMMON) },
});

export const createBackupRoute = createRoute({
  ...post(
    "/backups",
    "applianceBackupCreate",
    "Start a backup now (409 while a job runs or with no destination)",
  ),
  request: {
    query: noQuery,
    body: { required: false, content: { "application/json": { schema: createBackupBody } } },
  },
  responses: { ...job202, ...errors(...COMMON, 409, 413, 415) },
});

export const backupJobRoute = createRoute({
  ...get("/backups/jobs/{id}", "applianceBackupJob", "A backup job: its phase, progress, result or error"),
  request: { params: jobParams, query: noQuery },
  responses: { 200: json(backupJobSchema, "the job"), ...errors(...COMMON, 404) },
});

export const verifyBackupRoute = createRoute({
  ...post(
    "/backups/{id}/verify",
    "applianceBackupVerify",
    "Check every part of a backup against its signed manifest",
  ),
  request: { params: idParams, query: noQuery },
  responses: { ...job202, ...errors(...COMMON, 404, 409) },
});

export const restoreDryRunRoute = createRoute({
  ...post(
    "/backups/{id}/restore-dry-run",
    "applianceBackupRestoreDryRun",
    "What restoring a backup would change (restoring itself needs the box stopped: `nexus backup restore`)",
  ),
  request: { params: idParams, query: noQuery },
  responses: { ...job202, ...errors(...COMMON, 404, 409) },
});

export const pruneBackupsRoute = createRoute({
  ...post("/backups/prune", "applianceBackupPrune", "Remove the backups the retention policy does not keep"),
  request: { query: noQuery },
  responses: { ...job202, ...errors(...COMMON, 409) },
});
