/**
 * The hub's API for form submissions across sites (hub admin token): the boxes' submissions arrive as records
 * of the append-only collection `form_submissions` (services/forms/hub-sync.ts); this lists them per form with
 * filters (site, time range, review state) and paging, exports one form's as CSV (a column per field, the
 * union over versions), and counts them per form and site. Read-only: review happens on the boxes.
 */
import { type Context, Hono } from "hono";
import { z } from "zod";
import { ApiError } from "../kit/errors.js";
import type { HubQuery } from "./db.js";

export const FORM_SUBMISSIONS = "form_submissions";

const isoTime = z.string().datetime({ offset: true });
const filterSchema = z
  .object({
    formId: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,99}$/)
      .optional(),
    site: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/)
      .optional(),
    from: isoTime.optional(),
    to: isoTime.optional(),
    reviewState: z.enum(["received", "approved", "rejected", "edited"]).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
  })
  .strict();

type Filter = z.infer<typeof filterSchema>;

interface Row {
  key: string;
  site: string;
  hlc: string;
  data: Record<string, unknown>;
  updatedAt: Date;
}

function parseFilter(c: Context): Filter {
  const parsed = filterSchema.safeParse(c.req.query());
  if (!parsed.success)
    throw new ApiError(400, "invalid query", {
      issues: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
    });
  return parsed.data;
}

/** The WHERE clause and parameters of a filter (parameters numbered from $1). */
function whereOf(f: Filter): { sql: string; params: unknown[] } {
  const parts = ["collection = $1", "NOT deleted"];
  const params: unknown[] = [FORM_SUBMISSIONS];
  const add = (cond: (n: string) => string, v: unknown) => {
    if (v === undefined) return;
    params.push(v);
    parts.push(cond(`$${params.length}`));
  };
  add((n) => `data->>'formId' = ${n}`, f.formId);
  add((n) => `site = ${n}`, f.site);
  add((n) => `data->>'receivedAt' >= ${n}`, f.from && new Date(f.from).toISOString());
  add((n) => `data->>'receivedAt' < ${n}`, f.to && new Date(f.to).toISOString());
  add((n) => `data->>'reviewState' = ${n}`, f.reviewState);
  return { sql: `WHERE ${parts.join(" AND ")}`, params };
}

/** Submissions matching `f`, newest first, with the total. */
export async function listHubSubmissions(db: HubQuery, f: Filter) {
  const w = whereOf(f);
  const [count] = await db.query<{ n: string | number }>(
    `SELECT COUNT(*) AS n FROM records ${w.sql}`,
    w.params,
  );
  const rows = await db.query<Row>(
    `SELECT key, site, hlc, data, updated_at AS "updatedAt" FROM records ${w.sql}
     ORDER BY data->>'receivedAt' DESC, key LIMIT ${f.limit} OFFSET ${f.offset}`,
    w.params,
  );
  return {
    total: Number(count?.n ?? 0),
    submissions: rows.map((r) => {
      const { xml: _xml, ...data } = r.data;
      return { site: r.site, key: r.key, hlc: r.hlc, syncedAt: new Date(r.updatedAt).toISOString(), ...data };
    }),
  };
}

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? "" : String(v);
  // A leading = + - @ would run as a formula in a spreadsheet: quoted and prefixed.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) || safe !== s ? `"${safe.replace(/"/g, '""')}"` : safe;
};

/** One form's submissions across sites as CSV, oldest first (a page of 500 at a time). */
export async function exportHubCsv(db: HubQuery, f: Filter): Promise<string> {
  const w = whereOf(f);
  const rows: Row[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = await db.query<Row>(
      `SELECT key, site, hlc, data, updated_at AS "updatedAt" FROM records ${w.sql}
       ORDER BY data->>'receivedAt', key LIMIT 500 OFFSET ${offset}`,
      w.params,
    );
    rows.push(...page);
    if (page.length < 500) break;
  }
  const fields = [
    ...new Set(rows.flatMap((r) => Object.keys((r.data.fields as Record<string, string>) ?? {}))),
  ].sort();
  const head = [
    "site",
    "instanceId",
    "version",
    "submitter",
    "receivedAt",
    "reviewState",
    "revision",
    ...fields,
  ];
  const lines = rows.map((r) => {
    const d = r.data;
    const values = (d.fields as Record<string, string>) ?? {};
    return [r.site, d.instanceId, d.version, d.submitter, d.receivedAt, d.reviewState, d.revision]
      .concat(fields.map((k) => values[k]))
      .map(csvCell)
      .join(",");
  });
  return `${[head.map(csvCell).join(","), ...lines].join("\r\n")}\r\n`;
}

/** Submissions per form and site. */
export function countHubSubmissions(db: HubQuery) {
  return db.query<{ formId: string; site: string; count: number }>(
    `SELECT data->>'formId' AS "formId", site, COUNT(*)::int AS count FROM records
     WHERE collection = $1 AND NOT deleted GROUP BY 1, 2 ORDER BY 1, 2`,
    [FORM_SUBMISSIONS],
  );
}

/** Routes under /api/hub/forms (each checks the hub admin token with `admin`). */
export function formSubmissionRoutes(db: HubQuery, admin: (header: string | undefined) => void) {
  const app = new Hono();
  app.get("/api/hub/forms/submissions", async (c) => {
    admin(c.req.header("authorization"));
    return c.json(await listHubSubmissions(db, parseFilter(c)));
  });
  app.get("/api/hub/forms/submissions.csv", async (c) => {
    admin(c.req.header("authorization"));
    const f = parseFilter(c);
    if (!f.formId) throw new ApiError(400, "an export is of one form: give ?formId=");
    return c.body(await exportHubCsv(db, f), 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${f.formId}.csv"`,
    });
  });
  app.get("/api/hub/forms/counts", async (c) => {
    admin(c.req.header("authorization"));
    return c.json({ counts: await countHubSubmissions(db) });
  });
  return app;
}
