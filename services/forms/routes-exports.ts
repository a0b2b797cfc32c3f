/** HTTP for exports: CSV, GeoJSON and a ZIP with attachments, for one form's submissions (filters apply). */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { documentRoute } from "../../appliance/kit/index.js";
import { csvLines, geoJson, zipStream } from "./exports.js";
import { getForm } from "./forms.js";
import * as s from "./schemas.js";
import { type Ctx, formsOf } from "./state.js";

const exportQuery = s.filterQuery.omit({ formId: true });

/** Mounts the export routes. */
export function exportRoutes(app: OpenAPIHono, ctx: Ctx) {
  const filter = (formId: string, query: Record<string, string>) => {
    const p = s.formParam.parse({ formId });
    getForm(ctx, p.formId); // 404 for an unknown form
    return { ...exportQuery.parse(query), formId: p.formId };
  };
  app.get("/forms/:formId/export.csv", (c) => {
    const f = filter(c.req.param("formId"), c.req.query());
    const lines = csvLines(ctx, f);
    const body = new ReadableStream({
      pull(controller) {
        const next = lines.next();
        if (next.done) controller.close();
        else controller.enqueue(new TextEncoder().encode(next.value));
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": `attachment; filename="${f.formId}.csv"`,
      },
    });
  });
  app.get("/forms/:formId/export.geojson", (c) => {
    const f = filter(c.req.param("formId"), c.req.query());
    return c.body(JSON.stringify(geoJson(ctx, f)), 200, { "content-type": "application/geo+json" });
  });
  app.get("/forms/:formId/export.zip", (c) => {
    const f = filter(c.req.param("formId"), c.req.query());
    return new Response(zipStream(ctx, formsOf(ctx), f), {
      headers: {
        "content-type": "application/zip",
        "content-disposition": `attachment; filename="${f.formId}.zip"`,
      },
    });
  });
  for (const [ext, type, what] of [
    ["csv", "text/csv", "CSV: a row per submission, a column per field"],
    ["geojson", "application/geo+json", "GeoJSON: a Point per submission with a geopoint"],
    ["zip", "application/zip", "ZIP: the CSV and every attachment under media/<submissionId>/"],
  ] as const) {
    documentRoute(app, {
      method: "get",
      path: `/forms/{formId}/export.${ext}`,
      operationId: `export${ext === "geojson" ? "GeoJson" : ext[0]!.toUpperCase() + ext.slice(1)}`,
      summary: `Export a form's submissions as ${what}`,
      request: { params: s.formParam, query: exportQuery },
      responses: { 200: { description: what, content: { [type]: { schema: { type: "string" } } } } },
      errors: [404],
    });
  }
}
