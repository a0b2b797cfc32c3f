/** HTTP for forms, versions and form attachments: thin handlers over forms.ts and the XLSForm converter. */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  ApiError,
  binaryContent,
  documentRoute,
  jsonRoute,
  requireCaller,
} from "../../appliance/kit/index.js";
import {
  addVersion,
  archiveVersion,
  attachmentsOf,
  getForm,
  listForms,
  publishVersion,
  putAttachment,
  requireVersion,
  versionOut,
} from "./forms.js";
import * as s from "./schemas.js";
import { type Ctx, formsOf } from "./state.js";
import { XlsFormError, xlsformToXForm } from "./xlsform/index.js";

const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const versionOf = (v: string) => (v === "-" ? "" : v);

/** The request body, refused above `max` bytes. */
async function bodyBytes(c: Context, max: number): Promise<Buffer> {
  if (Number(c.req.header("content-length") ?? 0) > max) throw new ApiError(413, `body over ${max} bytes`);
  const data = Buffer.from(await c.req.arrayBuffer());
  if (data.length > max) throw new ApiError(413, `body over ${max} bytes`);
  return data;
}

/** An uploaded form: XForm XML or an XLSForm, raw or as the `file` part of a multipart body. */
async function uploadedForm(c: Context, max: number): Promise<{ kind: "xform" | "xlsform"; data: Buffer }> {
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  if (type.startsWith("multipart/form-data")) {
    if (Number(c.req.header("content-length") ?? 0) > max) throw new ApiError(413, `body over ${max} bytes`);
    const body = await c.req.parseBody();
    const file = body.file;
    if (!(file instanceof File)) throw new ApiError(400, "send the form as the multipart part named file");
    if (file.size > max) throw new ApiError(413, `form over ${max} bytes`);
    const data = Buffer.from(await file.arrayBuffer());
    const xls = /\.xlsx$/i.test(file.name) || file.type === XLSX || data.subarray(0, 2).toString() === "PK";
    return { kind: xls ? "xlsform" : "xform", data };
  }
  const data = await bodyBytes(c, max);
  if (type.startsWith(XLSX)) return { kind: "xlsform", data };
  if (/^(application|text)\/xml/.test(type)) return { kind: "xform", data };
  throw new ApiError(415, `send an XForm (application/xml) or an XLSForm (${XLSX})`);
}

/** Mounts the forms routes. */
export function formRoutes(app: OpenAPIHono, ctx: Ctx) {
  jsonRoute(
    app,
    {
      method: "get",
      path: "/forms",
      operationId: "listForms",
      summary: "Every form with its versions",
      response: z.object({ forms: z.array(s.formOut) }),
    },
    (c) => c.json({ forms: listForms(ctx) }, 200),
  );
  app.post("/forms", async (c) => {
    const by = requireCaller(c).id;
    const up = await uploadedForm(c, ctx.config.maxFormBytes);
    let xml: string;
    let warnings: string[] = [];
    if (up.kind === "xlsform") {
      try {
        ({ xml, warnings } = await xlsformToXForm(up.data));
      } catch (err) {
        if (err instanceof XlsFormError) throw new ApiError(400, err.message, { errors: err.errors });
        throw err;
      }
    } else xml = up.data.toString("utf8");
    const { row, created } = addVersion(ctx, xml, { by, source: up.kind });
    const final = c.req.query("publish") === "true" ? publishVersion(ctx, row.form_id, row.version) : row;
    return c.json(
      { form: getForm(ctx, row.form_id), version: versionOut(ctx, final), created, warnings },
      created ? 201 : 200,
    );
  });
  documentRoute(app, {
    method: "post",
    path: "/forms",
    operationId: "uploadForm",
    summary:
      "Upload an XForm (application/xml) or an XLSForm (.xlsx), raw or as the multipart part `file`: a new draft " +
      "version, or a draft replaced (409 for a published version). `?publish=true` publishes it at once.",
    request: {
      query: s.uploadQuery,
      body: {
        content: {
          "application/xml": { schema: { type: "string" } },
          [XLSX]: { schema: { type: "string", format: "binary" } },
          "multipart/form-data": {
            schema: { type: "object", properties: { file: { type: "string", format: "binary" } } },
          },
        },
        required: true,
      },
    },
    responses: {
      201: { description: "a new version", content: { "application/json": { schema: s.uploadOut } } },
      200: { description: "a draft replaced", content: { "application/json": { schema: s.uploadOut } } },
    },
    errors: [409, 413, 415],
  });
  jsonRoute(
    app,
    {
      method: "get",
      path: "/forms/{formId}",
      operationId: "getForm",
      summary: "One form with its versions",
      params: s.formParam,
      response: s.formOut,
      errors: [404],
    },
    (c, { params }) => c.json(getForm(ctx, params.formId), 200),
  );
  for (const [action, fn, summary] of [
    ["publish", publishVersion, "Publish a draft version (409 while an attachment it references is missing)"],
    ["archive", archiveVersion, "Archive a version: off the form list, no more submissions"],
  ] as const) {
    jsonRoute(
      app,
      {
        method: "post",
        path: `/forms/{formId}/versions/{version}/${action}`,
        operationId: `${action}Version`,
        summary: `${summary}; \`-\` names the empty version`,
        params: s.versionParams,
        response: s.versionOut,
        errors: [404, 409],
      },
      (c, { params }) => c.json(versionOut(ctx, fn(ctx, params.formId, versionOf(params.version))), 200),
    );
  }
  app.get("/forms/:formId/versions/:version/xform", (c) => {
    const v = requireVersion(ctx, c.req.param("formId"), versionOf(c.req.param("version")));
    return c.body(v.xml, 200, { "content-type": "application/xml; charset=utf-8" });
  });
  documentRoute(app, {
    method: "get",
    path: "/forms/{formId}/versions/{version}/xform",
    operationId: "getXForm",
    summary: "A version's XForm XML",
    request: { params: s.versionParams },
    responses: {
      200: { description: "the XForm", content: { "application/xml": { schema: { type: "string" } } } },
    },
    errors: [404],
  });
  attachmentRoutes(app, ctx);
}

function attachmentRoutes(app: OpenAPIHono, ctx: Ctx) {
  const path = "/forms/:formId/versions/:version/attachments/:name";
  app.put(path, async (c) => {
    const p = s.attachmentParams.parse(c.req.param());
    const data = await bodyBytes(c, ctx.config.maxAttachmentBytes);
    const a = await putAttachment(
      ctx,
      formsOf(ctx),
      {
        formId: p.formId,
        version: versionOf(p.version),
        name: p.name,
        contentType: c.req.header("content-type") || "application/octet-stream",
      },
      data,
    );
    return c.json(
      { name: a.name, sha256: a.sha256, md5: a.md5, size: a.size, contentType: a.content_type },
      200,
    );
  });
  app.get(path, async (c) => {
    const p = s.attachmentParams.parse(c.req.param());
    const a = attachmentsOf(ctx, p.formId, versionOf(p.version)).find((x) => x.name === p.name);
    if (!a) throw new ApiError(404, "no such form attachment");
    const stream = await formsOf(ctx).store.get(a.sha256);
    return new Response(stream as unknown as ReadableStream, {
      headers: { "content-type": a.content_type, "content-length": String(a.size) },
    });
  });
  const apiPath = "/forms/{formId}/versions/{version}/attachments/{name}";
  documentRoute(app, {
    method: "put",
    path: apiPath,
    operationId: "putFormAttachment",
    summary: "Upload a form attachment (media, CSV) the draft version references; raw body",
    request: { params: s.attachmentParams, body: { content: binaryContent(), required: true } },
    responses: {
      200: { description: "stored", content: { "application/json": { schema: s.formAttachmentOut } } },
    },
    errors: [404, 409, 413],
  });
  documentRoute(app, {
    method: "get",
    path: apiPath,
    operationId: "getFormAttachment",
    summary: "Download a form attachment",
    request: { params: s.attachmentParams },
    responses: { 200: { description: "the file", content: binaryContent() } },
    errors: [404],
  });
}
