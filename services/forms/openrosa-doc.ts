/**
 * The OpenRosa routes in the OpenAPI document, in two forms: the app user's key URL
 * (`/openrosa/key/{token}/…`, the key in the path is the credential, so the operations declare no security) and
 * the console user's `/me/openrosa/…` (authenticated by the gateway: forms:read, forms:submit to submit). The
 * HTTP Basic form under `/openrosa/…` is the key form's twin and is left out.
 */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { binaryContent, documentRoute } from "../../appliance/kit/index.js";

const xmlOf = (description: string) => ({
  description,
  content: { "text/xml": { schema: { type: "string" as const } } },
});
const versionParams = { formId: z.string().min(1).max(256), version: z.string().min(1).max(256) };
const submissionBody = {
  content: {
    "multipart/form-data": {
      schema: {
        type: "object" as const,
        properties: { xml_submission_file: { type: "string" as const, format: "binary" } },
      },
    },
  },
  required: true,
};

/** Documents the OpenRosa routes under `prefix` (OpenAPI path form), with operationIds prefixed by `id`. */
function documentPrefix(app: OpenAPIHono, prefix: string, id: string, who: string, params: z.ZodRawShape) {
  const p = (extra: z.ZodRawShape = {}) => {
    const shape = { ...params, ...extra };
    return Object.keys(shape).length ? { params: z.object(shape) } : {};
  };
  documentRoute(app, {
    method: "get",
    path: `${prefix}/formList`,
    operationId: `${id}FormList`,
    summary: `OpenRosa Form List (xformsList): the newest published version of each form ${who} may use`,
    request: p(),
    responses: { 200: xmlOf("the form list") },
    errors: [401],
  });
  documentRoute(app, {
    method: "get",
    path: `${prefix}/forms/{formId}/{version}/form.xml`,
    operationId: `${id}FormXml`,
    summary: "A published form version's XForm",
    request: p(versionParams),
    responses: { 200: xmlOf("the XForm") },
    errors: [401, 404],
  });
  documentRoute(app, {
    method: "get",
    path: `${prefix}/forms/{formId}/{version}/manifest`,
    operationId: `${id}Manifest`,
    summary: "OpenRosa manifest: a published form version's media files with their md5 and download URLs",
    request: p(versionParams),
    responses: { 200: xmlOf("the manifest") },
    errors: [401, 404],
  });
  documentRoute(app, {
    method: "get",
    path: `${prefix}/forms/{formId}/{version}/attachments/{name}`,
    operationId: `${id}FormAttachment`,
    summary: "One media file of a published form version",
    request: p({ ...versionParams, name: z.string().min(1).max(255) }),
    responses: { 200: { description: "the file", content: binaryContent() } },
    errors: [401, 404],
  });
  documentRoute(app, {
    method: "get",
    path: `${prefix}/submission`,
    operationId: `${id}SubmissionInfo`,
    summary: "Before a submission: 204 with X-OpenRosa-Accept-Content-Length, the largest body accepted",
    request: p(),
    responses: { 204: { description: "no content; see the headers" } },
    errors: [401],
  });
  documentRoute(app, {
    method: "post",
    path: `${prefix}/submission`,
    operationId: `${id}Submit`,
    summary:
      "OpenRosa Form Submission: multipart with xml_submission_file and attachments; merged by instanceID, a " +
      "resend is a success that stores nothing",
    request: { ...p(), body: submissionBody },
    responses: { 201: xmlOf("an OpenRosaResponse") },
    errors: [401, 404, 409, 413],
  });
}

/** The OpenRosa routes of app users (key URL) and of console users (`/me/openrosa`). */
export function documentOpenRosa(app: OpenAPIHono): void {
  documentPrefix(app, "/openrosa/key/{token}", "openRosa", "the app user", {
    token: z.string().min(1).max(200),
  });
  documentPrefix(app, "/me/openrosa", "meOpenRosa", "the console user", {});
}
