/** The media API: start, list, read and cancel jobs; stream their progress (SSE); serve their outputs. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { ApiError, type Caller, hasPermission, jsonRoute, requireCaller } from "../../appliance/kit/index.js";
import { serveBlob } from "../files/serve.js";
import { canUse } from "../files/spaces.js";
import { type Ctx, enqueue, finish, type Job, jobRow, listJobs, PRIORITY, sourceRow, toJob } from "./jobs.js";
import { outputRow, outputsOf } from "./outputs.js";
import * as s from "./schemas.js";
import { settingsRoutes } from "./settings-routes.js";
import { signPlayback, verifyPlayback } from "./signing.js";
import { mediaOf } from "./state.js";
import type { MediaWorker } from "./worker.js";

const isAdmin = (c: Caller) =>
  hasPermission(c.permissions, "media:admin") || hasPermission(c.permissions, "files:admin");
/** Files spaces as files says; a form's attachments to whoever may read its submissions. */
const mayUse = (c: Caller, space: string) =>
  isAdmin(c) || (space.startsWith("form:") ? hasPermission(c.permissions, "forms:read") : canUse(c, space));

/** The job, or 404 (also when the caller may not see its space: no existence leak). */
function visibleJob(ctx: Ctx, caller: Caller, id: string) {
  const row = jobRow(ctx, id);
  if (!row || !mayUse(caller, row.space)) throw new ApiError(404, "no such job");
  return row;
}

function detail(ctx: Ctx, c: Context, id: string, status: 200 | 202 = 200) {
  const row = jobRow(ctx, id)!;
  const outputs = outputsOf(ctx, id).map((o) => ({
    name: o.name,
    size: o.size,
    contentType: o.content_type,
  }));
  const seconds = ctx.config.playbackUrlSeconds;
  const playback =
    row.state === "done"
      ? {
          base: `/api/media/play/${signPlayback(ctx, id, seconds)}/`,
          expiresAt: new Date(Date.now() + seconds * 1000).toISOString(),
        }
      : null;
  return c.json({ job: toJob(row), outputs, playback }, status);
}

export function mediaRoutes(app: OpenAPIHono, ctx: Ctx, worker: () => MediaWorker) {
  settingsRoutes(app, ctx, mayUse);
  jsonRoute(
    app,
    {
      method: "post",
      path: "/jobs",
      operationId: "createJob",
      summary: "Process a file version now (interactive priority unless asked otherwise)",
      body: s.createJobSchema,
      response: s.jobDetailSchema,
      status: 202,
      alsoStatus: 200,
      errors: [404],
    },
    (c, { body }) => {
      const caller = requireCaller(c);
      const src = sourceRow(ctx, body.nodeId, body.version);
      if (!src || !mayUse(caller, src.space)) throw new ApiError(404, "no such file version known to media");
      const { job } = enqueue(ctx, src, PRIORITY[body.priority], caller.id);
      worker().wake();
      return detail(ctx, c, job.id, 202);
    },
  );

  jsonRoute(
    app,
    {
      method: "get",
      path: "/jobs",
      operationId: "listJobs",
      summary: "Jobs of the caller's spaces, newest first",
      query: s.listQuerySchema,
      response: s.jobListSchema,
    },
    (c, { query }) => {
      const caller = requireCaller(c);
      const spaces = isAdmin(caller) ? null : [`user:${caller.id}`, ...caller.teams.map((t) => `team:${t}`)];
      const forms = hasPermission(caller.permissions, "forms:read");
      return c.json({ jobs: listJobs(ctx, spaces, query, forms).map(toJob) }, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "get",
      path: "/jobs/{id}",
      operationId: "getJob",
      summary: "A job, its outputs and a signed playback URL once done",
      params: s.idParams,
      response: s.jobDetailSchema,
      errors: [404],
    },
    (c, { params }) => {
      visibleJob(ctx, requireCaller(c), params.id);
      return detail(ctx, c, params.id);
    },
  );

  jsonRoute(
    app,
    {
      method: "delete",
      path: "/jobs/{id}",
      operationId: "cancelJob",
      summary: "Cancel a queued or running job (its ffmpeg is killed)",
      params: s.idParams,
      response: s.jobDetailSchema,
      errors: [404, 409],
    },
    (c, { params }) => {
      const row = visibleJob(ctx, requireCaller(c), params.id);
      if (row.state !== "queued" && row.state !== "running")
        throw new ApiError(409, `the job is ${row.state} already`);
      if (!worker().cancel(row.id)) finish(ctx, row.id, "cancelled", "cancelled");
      return detail(ctx, c, params.id);
    },
  );

  app.get("/jobs/:id/files/*", async (c) => {
    const id = s.idParams.safeParse({ id: c.req.param("id") });
    if (!id.success) throw new ApiError(400, "id: a job id");
    visibleJob(ctx, requireCaller(c), id.data.id);
    return serveOutput(ctx, c, id.data.id, restOf(c, "files"));
  });

  app.get("/play/:token/*", async (c) => {
    const v = verifyPlayback(ctx, c.req.param("token") ?? "");
    if ("error" in v) throw new ApiError(403, v.error);
    return serveOutput(ctx, c, v.jobId, restOf(c, c.req.param("token") ?? ""), true);
  });

  app.get("/events", (c) => {
    const caller = requireCaller(c);
    const live = mediaOf(ctx).live;
    return streamSSE(c, async (stream) => {
      const onJob = (job: Job) => {
        if (mayUse(caller, job.space)) void stream.writeSSE({ event: "job", data: JSON.stringify(job) });
      };
      live.on("job", onJob);
      await stream.write(": open\n\n"); // headers out now, not at the first event or keepalive
      const keepalive = setInterval(() => void stream.write(": keepalive\n\n"), 10_000);
      await new Promise<void>((resolve) => stream.onAbort(resolve));
      clearInterval(keepalive);
      live.off("job", onJob);
    });
  });
}

/** The output name after `/<marker>/` in the path, checked (no traversal: names are looked up, not opened). */
function restOf(c: Context, marker: string): string {
  const path = new URL(c.req.url).pathname;
  const at = path.indexOf(`/${marker}/`);
  const raw = at >= 0 ? path.slice(at + marker.length + 2) : "";
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, "malformed output name");
  }
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)?$/.test(name) || name.includes(".."))
    throw new ApiError(404, "no such output");
  return name;
}

const IMMUTABLE = "private, max-age=31536000, immutable";

/** An output; `shared` (a signed URL): its GPS-free copy where it has one. */
async function serveOutput(ctx: Ctx, c: Context, jobId: string, name: string, shared = false) {
  const out = outputRow(ctx, jobId, name);
  if (!out) throw new ApiError(404, "no such output");
  const [sha256, size] =
    shared && out.shared_sha256 ? [out.shared_sha256, out.shared_size ?? 0] : [out.sha256, out.size];
  const m = mediaOf(ctx);
  return serveBlob(
    c,
    { store: m.outputs, bytes: m.bytes },
    {
      sha256,
      size,
      contentType: out.content_type,
      name,
      modifiedAt: new Date(0).toISOString(),
    },
    { inline: true, cacheControl: IMMUTABLE },
  );
}
