/**
 * OpenAPI entries of the path-addressed routes Hono serves by hand (streamed uploads, downloads). Only the
 * query-parameter form is documented: a generated client puts `a/b/c.txt` in `?path=` as it is (encoded as
 * the query needs), where a `{path}` path parameter would have its `/` encoded and be refused. The wildcard
 * form (`…/content/a/b/c.txt`) still works for the console, curl and older clients (docs/files.md).
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { binaryContent, documentRoute } from "../../appliance/kit/index.js";
import { fileOut, listOut, spaceParam } from "./schemas.js";

const filePath = z
  .string()
  .min(1)
  .max(4096)
  .describe("The file's path in the space, `/`-separated: `reports/2026/q1.pdf`");
const folderPath = z
  .string()
  .max(4096)
  .describe("The folder's path in the space, `/`-separated; empty or absent: the space's root");

const putHeaders = z.object({
  "x-content-sha256": z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/)
    .optional()
    .describe("The content's sha256; a mismatch is 422 and nothing is stored"),
  "if-match": z.string().optional().describe("Only replace this ETag (the current version's)"),
  "if-none-match": z.literal("*").optional().describe("`*`: only create, never replace"),
});
const getHeaders = z.object({
  range: z.string().optional().describe("`bytes=first-last`: 206 with that part"),
  "if-range": z.string().optional().describe("Apply Range only while the ETag still matches"),
  "if-none-match": z.string().optional().describe("304 when the ETag matches"),
});
const getQuery = z.object({
  path: filePath,
  version: z.coerce.number().int().min(1).optional().describe("An older version (default: current)"),
  inline: z.enum(["1"]).optional().describe("`1`: Content-Disposition inline instead of attachment"),
});

/** Documents GET/PUT `/spaces/{space}/content?path=` and GET `/spaces/{space}/list?path=`. */
export function documentContentRoutes(app: OpenAPIHono): void {
  const file = { description: "the stored file", content: { "application/json": { schema: fileOut } } };
  documentRoute(app, {
    method: "put",
    path: "/spaces/{space}/content",
    operationId: "putFile",
    summary:
      "Upload a whole file (raw body, streamed; its Content-Type is stored as the file's type): a new path " +
      "makes version 1 (201), an existing file its next version (200)",
    request: {
      params: spaceParam,
      query: z.object({ path: filePath }),
      headers: putHeaders,
      body: { content: binaryContent(), required: true },
    },
    responses: { 200: file, 201: file },
    errors: [404, 409, 412, 413, 422, 507],
  });
  const bytes = (description: string) => ({ description, content: binaryContent() });
  documentRoute(app, {
    method: "get",
    path: "/spaces/{space}/content",
    operationId: "getFile",
    summary: "Download a file: ETag, If-None-Match (304), Range (206); HEAD answers the headers only",
    request: { params: spaceParam, query: getQuery, headers: getHeaders },
    responses: {
      200: bytes("the file"),
      206: bytes("the requested range"),
      304: { description: "not modified" },
    },
    errors: [404, 416],
  });
  documentRoute(app, {
    method: "get",
    path: "/spaces/{space}/list",
    operationId: "listFolder",
    summary: "A folder's items (no path: the space's root)",
    request: {
      params: spaceParam,
      query: z.object({
        path: folderPath.optional(),
        limit: z.coerce.number().int().min(1).max(5000).optional().describe("At most this many (1000)"),
      }),
    },
    responses: {
      200: { description: "the folder and its items", content: { "application/json": { schema: listOut } } },
    },
    errors: [404],
  });
}
