/** HTTP for submissions: list with filters, one with its attachments, review, edit, history, counts. */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  ApiError,
  binaryContent,
  documentRoute,
  jsonRoute,
  requireCaller,
} from "../../appliance/kit/index.js";
import {
  countsPerDay,
  editSubmission,
  historyOf,
  listSubmissions,
  requireSubmission,
  reviewSubmission,
  submissionOut,
} from "./review.js";
import * as s from "./schemas.js";
import { type Ctx, formsOf } from "./state.js";
import { attachmentRows } from "./submissions.js";

/** Mounts the submission routes. */
export function submissionRoutes(app: OpenAPIHono, ctx: Ctx) {
  jsonRoute(
    app,
    {
      method: "get",
      path: "/submissions",
      operationId: "listSubmissions",
      summary:
        "Submissions, newest first, filtered by form, version, date range, review state and site; paged",
      query: s.listQuery,
      response: z.object({ total: z.number().int(), submissions: z.array(s.submissionOut) }),
    },
    (c, { query }) => {
      const { total, rows } = listSubmissions(ctx, query);
      return c.json({ total, submissions: rows.map((r) => submissionOut(ctx, r)) }, 200);
    },
  );
  jsonRoute(
    app,
    {
      method: "get",
      path: "/submissions/{id}",
      operationId: "getSubmission",
      summary: "One submission with its XML and attachments",
      params: s.idParam,
      response: s.submissionOut,
      errors: [404],
    },
    (c, { params }) => c.json(submissionOut(ctx, requireSubmission(ctx, params.id), true), 200),
  );
  app.get("/submissions/:id/attachments/:name", async (c) => {
    const p = s.subAttachmentParams.parse(c.req.param());
    requireSubmission(ctx, p.id);
    const a = attachmentRows(ctx, p.id).find((x) => x.name === p.name);
    if (!a) throw new ApiError(404, "no such attachment");
    const stream = await formsOf(ctx).store.get(a.sha256);
    return new Response(stream as unknown as ReadableStream, {
      headers: {
        "content-type": a.content_type,
        "content-length": String(a.size),
        "content-disposition": `attachment; filename="${a.name}"`,
        "x-content-type-options": "nosniff",
      },
    });
  });
  documentRoute(app, {
    method: "get",
    path: "/submissions/{id}/attachments/{name}",
    operationId: "getSubmissionAttachment",
    summary: "Download one of a submission's attachments",
    request: { params: s.subAttachmentParams },
    responses: { 200: { description: "the file", content: binaryContent() } },
    errors: [404],
  });
  jsonRoute(
    app,
    {
      method: "post",
      path: "/submissions/{id}/review",
      operationId: "reviewSubmission",
      summary: "Set the review state (a rejection needs a comment); emits nexus.forms.reviewed",
      params: s.idParam,
      body: s.reviewBody,
      response: s.submissionOut,
      errors: [404],
    },
    (c, { params, body }) =>
      c.json(submissionOut(ctx, reviewSubmission(ctx, params.id, body, requireCaller(c).id)), 200),
  );
  app.put("/submissions/:id/xml", async (c) => {
    const { id } = s.idParam.parse(c.req.param());
    const xml = await c.req.text();
    if (xml.length > ctx.config.maxSubmissionBytes) throw new ApiError(413, "edited XML too large");
    return c.json(submissionOut(ctx, editSubmission(ctx, id, xml, requireCaller(c).id)), 200);
  });
  documentRoute(app, {
    method: "put",
    path: "/submissions/{id}/xml",
    operationId: "editSubmission",
    summary:
      "Replace a submission's data (same form version and instanceID); the old data is kept as a revision",
    request: {
      params: s.idParam,
      body: { content: { "application/xml": { schema: { type: "string" } } }, required: true },
    },
    responses: {
      200: {
        description: "the edited submission",
        content: { "application/json": { schema: s.submissionOut } },
      },
    },
    errors: [404, 409, 413],
  });
  jsonRoute(
    app,
    {
      method: "get",
      path: "/submissions/{id}/history",
      operationId: "getSubmissionHistory",
      summary: "A submission's reviews and earlier revisions",
      params: s.idParam,
      response: s.historyOut,
      errors: [404],
    },
    (c, { params }) => c.json(historyOf(ctx, params.id), 200),
  );
  jsonRoute(
    app,
    {
      method: "get",
      path: "/counts",
      operationId: "countSubmissions",
      summary: "Submissions per form and UTC day",
      query: s.countsQuery,
      response: z.object({
        counts: z.array(z.object({ formId: z.string(), day: z.string(), count: z.number().int() })),
      }),
    },
    (c, { query }) => c.json({ counts: countsPerDay(ctx, query) }, 200),
  );
}
