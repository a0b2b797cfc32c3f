/** The media API's request and response shapes. */
import { z } from "@hono/zod-openapi";

export const jobSchema = z.object({
  id: z.string(),
  nodeId: z.string(),
  version: z.number().int(),
  space: z.string(),
  /** `files`: nodeId/version of a files version; `forms`: nodeId is `<submissionId>/<attachment name>`. */
  origin: z.enum(["files", "forms"]),
  state: z.enum(["queued", "running", "done", "failed", "cancelled"]),
  priority: z.enum(["interactive", "bulk"]),
  attempts: z.number().int(),
  kind: z.string().nullable(),
  progress: z.number(),
  etaSeconds: z.number().nullable(),
  stage: z.string().nullable(),
  encoder: z.string().nullable(),
  error: z.string().nullable(),
  probe: z.record(z.string(), z.unknown()).nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const outputSchema = z.object({ name: z.string(), size: z.number().int(), contentType: z.string() });

export const jobDetailSchema = z.object({
  job: jobSchema,
  outputs: z.array(outputSchema),
  /** Signed URL prefix (`…/play/<token>/`) valid for `playbackUrlSeconds`; null until the job is done. */
  playback: z.object({ base: z.string(), expiresAt: z.string() }).nullable(),
});

export const createJobSchema = z
  .object({
    nodeId: z.string().uuid(),
    version: z.number().int().min(1).optional(),
    priority: z.enum(["interactive", "bulk"]).default("interactive"),
  })
  .strict();

export const listQuerySchema = z.object({
  state: z.enum(["queued", "running", "done", "failed", "cancelled"]).optional(),
  nodeId: z
    .string()
    .max(300)
    .regex(/^[0-9a-f-]{36}(\/[^/\\]{1,255})?$/, "a file id, or <submissionId>/<attachment name>")
    .optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const idParams = z.object({ id: z.string().uuid() });

export const jobListSchema = z.object({ jobs: z.array(jobSchema) });
