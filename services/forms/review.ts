/**
 * Looking at submissions: the filtered, paged list, one submission with its attachments, counts per form and
 * day, review states (received, approved, rejected with a comment) and edits kept as revisions.
 */
import { ApiError } from "../../appliance/kit/index.js";
import { attachmentAiOf } from "./attachment-ai.js";
import { recordSubmission } from "./hub-sync.js";
import { type Ctx, now } from "./state.js";
import { SubmissionError } from "./submission-check.js";
import { attachmentRows, checkAgainstForm, getSubmission, type SubmissionRow } from "./submissions.js";

export interface SubmissionFilter {
  formId?: string;
  version?: string;
  from?: string;
  to?: string;
  reviewState?: string;
  site?: string;
  limit: number;
  offset: number;
}

/** A submission as the API shows it. */
export function submissionOut(ctx: Ctx, r: SubmissionRow, withXml = false) {
  const expected = JSON.parse(r.expected) as string[];
  const have = attachmentRows(ctx, r.id);
  const ai = attachmentAiOf(ctx, r.id);
  return {
    id: r.id,
    formId: r.form_id,
    version: r.version,
    instanceId: r.instance_id,
    instanceName: r.instance_name,
    submitter: r.submitter,
    site: r.site,
    receivedAt: r.received_at,
    updatedAt: r.updated_at,
    complete: !!r.complete,
    reviewState: r.review_state,
    reviewComment: r.review_comment,
    revision: r.revision,
    fields: JSON.parse(r.fields) as Record<string, string>,
    attachments: expected.map((name) => {
      const a = have.find((h) => h.name === name);
      const found = a ? (ai.get(name) ?? null) : null;
      return { name, present: !!a, size: a?.size ?? null, contentType: a?.content_type ?? null, ai: found };
    }),
    ...(withXml ? { xml: r.xml } : {}),
  };
}

function where(f: Omit<SubmissionFilter, "limit" | "offset">): { sql: string; args: string[] } {
  const parts: string[] = [];
  const args: string[] = [];
  const add = (cond: string, v: string | undefined) => {
    if (v === undefined) return;
    parts.push(cond);
    args.push(v);
  };
  add("form_id = ?", f.formId);
  add("version = ?", f.version);
  add("received_at >= ?", f.from);
  add("received_at < ?", f.to);
  add("review_state = ?", f.reviewState);
  add("site = ?", f.site);
  return { sql: parts.length ? `WHERE ${parts.join(" AND ")}` : "", args };
}

/** Submissions matching `f`, newest first, with the total count. */
export function listSubmissions(ctx: Ctx, f: SubmissionFilter): { total: number; rows: SubmissionRow[] } {
  const w = where(f);
  const total = (
    ctx.db.prepare(`SELECT COUNT(*) AS n FROM submissions ${w.sql}`).get(...w.args) as { n: number }
  ).n;
  const rows = ctx.db
    .prepare(`SELECT * FROM submissions ${w.sql} ORDER BY received_at DESC, id LIMIT ? OFFSET ?`)
    .all(...w.args, f.limit, f.offset) as SubmissionRow[];
  return { total, rows };
}

/** Every submission matching `f`, oldest first, a page at a time (exports). */
export function* eachSubmission(ctx: Ctx, f: Omit<SubmissionFilter, "limit" | "offset">) {
  const w = where(f);
  const stmt = ctx.db.prepare(
    `SELECT * FROM submissions ${w.sql} ORDER BY received_at, id LIMIT 500 OFFSET ?`,
  );
  for (let offset = 0; ; offset += 500) {
    const page = stmt.all(...w.args, offset) as SubmissionRow[];
    yield* page;
    if (page.length < 500) return;
  }
}

/** A submission, or 404. */
export function requireSubmission(ctx: Ctx, id: string): SubmissionRow {
  const r = getSubmission(ctx, id);
  if (!r) throw new ApiError(404, "no such submission");
  return r;
}

/** Submissions per form and UTC day. */
export function countsPerDay(ctx: Ctx, f: { formId?: string; from?: string; to?: string }) {
  const w = where(f);
  return ctx.db
    .prepare(
      `SELECT form_id AS formId, substr(received_at, 1, 10) AS day, COUNT(*) AS count FROM submissions ${w.sql}
       GROUP BY form_id, day ORDER BY form_id, day`,
    )
    .all(...w.args) as { formId: string; day: string; count: number }[];
}

/** Sets a review state; a rejection needs a comment. Emits `nexus.forms.reviewed`. */
export function reviewSubmission(
  ctx: Ctx,
  id: string,
  review: { state: "received" | "approved" | "rejected"; comment?: string },
  by: string,
): SubmissionRow {
  if (review.state === "rejected" && !review.comment?.trim())
    throw new ApiError(400, "a rejection needs a comment saying why", { field: "comment" });
  return ctx.tx(() => {
    const r = requireSubmission(ctx, id);
    const at = now();
    ctx.db
      .prepare("UPDATE submissions SET review_state = ?, review_comment = ?, updated_at = ? WHERE id = ?")
      .run(review.state, review.comment ?? null, at, id);
    ctx.db
      .prepare(
        "INSERT INTO submission_reviews (submission_id, state, comment, by, at) VALUES (?, ?, ?, ?, ?)",
      )
      .run(id, review.state, review.comment ?? null, by, at);
    ctx.emit("reviewed", { id, formId: r.form_id, instanceId: r.instance_id, state: review.state, by });
    const after = requireSubmission(ctx, id);
    if (after.complete) recordSubmission(ctx, after, attachmentRows(ctx, id));
    return after;
  });
}

/**
 * Replaces a submission's data with an edited XML (same form version, same instanceID); the previous data is
 * kept as a revision. Emits `nexus.forms.reviewed` with state `edited`.
 */
export function editSubmission(ctx: Ctx, id: string, xml: string, by: string): SubmissionRow {
  const r = requireSubmission(ctx, id);
  let checked: ReturnType<typeof checkAgainstForm>["checked"];
  try {
    checked = checkAgainstForm(ctx, xml).checked;
  } catch (err) {
    if (err instanceof SubmissionError)
      throw new ApiError(err.status, err.message, { field: err.field ?? null });
    throw err;
  }
  if (checked.formId !== r.form_id || checked.version !== r.version || checked.instanceId !== r.instance_id)
    throw new ApiError(400, "an edit keeps the submission's form, version and instanceID");
  return ctx.tx(() => {
    const at = now();
    ctx.db
      .prepare(
        "INSERT INTO submission_revisions (submission_id, revision, xml, fields, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      )
      .run(id, r.revision, r.xml, r.fields, by, at);
    ctx.db
      .prepare(
        `UPDATE submissions SET xml = ?, fields = ?, revision = revision + 1, review_state = 'edited',
           updated_at = ? WHERE id = ?`,
      )
      .run(xml, JSON.stringify(checked.values), at, id);
    ctx.db
      .prepare(
        "INSERT INTO submission_reviews (submission_id, state, comment, by, at) VALUES (?, 'edited', NULL, ?, ?)",
      )
      .run(id, by, at);
    ctx.emit("reviewed", { id, formId: r.form_id, instanceId: r.instance_id, state: "edited", by });
    const after = requireSubmission(ctx, id);
    if (after.complete) recordSubmission(ctx, after, attachmentRows(ctx, id));
    return after;
  });
}

/** A submission's reviews and earlier revisions. */
export function historyOf(ctx: Ctx, id: string) {
  requireSubmission(ctx, id);
  return {
    reviews: ctx.db
      .prepare("SELECT state, comment, by, at FROM submission_reviews WHERE submission_id = ? ORDER BY id")
      .all(id) as { state: string; comment: string | null; by: string; at: string }[],
    revisions: ctx.db
      .prepare(
        "SELECT revision, xml, created_by AS createdBy, created_at AS createdAt FROM submission_revisions WHERE submission_id = ? ORDER BY revision",
      )
      .all(id) as { revision: number; xml: string; createdBy: string; createdAt: string }[],
  };
}
