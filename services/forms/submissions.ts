/**
 * Receiving OpenRosa submissions. Everything is checked before anything is stored; attachments are stored
 * as blobs first and then the submission, its attachments and its event in one transaction. A submission
 * split across several POSTs (Collect splits above the server's accepted length) is merged by instanceID; a
 * resend of what is already stored is a success that stores nothing new (no duplicate). A submission with
 * `meta/deprecatedID` (ODK Collect's and Enketo's edit of a sent submission) replaces the one it names as a new
 * revision: same submission, the earlier data kept in its history, the new instanceID recorded as well.
 */
import { createHash, randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { getVersion } from "./forms.js";
import { recordSubmission } from "./hub-sync.js";
import type { PostedFile } from "./multipart.js";
import { type Ctx, type FormsRuntime, now } from "./state.js";
import {
  type CheckedSubmission,
  checkSubmission,
  parseSubmission,
  SubmissionError,
  submissionHeader,
} from "./submission-check.js";
import type { SubmissionRow } from "./submission-row.js";
import type { FormDef } from "./xform.js";

export type { PostedFile, SubmissionRow };

export interface Received {
  row: SubmissionRow;
  /** What this POST added: new submission, more attachments, or nothing (a resend). */
  outcome: "created" | "merged" | "edited" | "duplicate";
}

/** Checks a submission against its published form version; returns the version's definition and the facts. */
export function checkAgainstForm(ctx: Ctx, xml: string): { def: FormDef; checked: CheckedSubmission } {
  const limits = { maxRepeats: ctx.config.maxRepeats, maxElements: ctx.config.maxElements };
  const root = parseSubmission(xml, limits);
  const { formId, version } = submissionHeader(root);
  const v = getVersion(ctx, formId, version);
  if (!v) throw new SubmissionError(404, `unknown form or version: form "${formId}" version "${version}"`);
  if (v.state !== "published")
    throw new SubmissionError(
      409,
      `form "${formId}" version "${version}" is ${v.state}: not taking submissions`,
    );
  const def = JSON.parse(v.def) as FormDef;
  return { def, checked: checkSubmission(root, def, limits) };
}

/** Receives one OpenRosa POST: the submission XML and some or all of its attachments (temp files, adopted). */
export async function receiveSubmission(
  ctx: Ctx,
  f: FormsRuntime,
  input: { xml: string; files: PostedFile[]; submitter: string; mayUse?: (formId: string) => boolean },
): Promise<Received> {
  const { checked } = checkAgainstForm(ctx, input.xml);
  if (input.mayUse && !input.mayUse(checked.formId))
    throw new SubmissionError(403, `form "${checked.formId}" is not assigned to this app user`);
  const named = new Set(checked.attachments);
  for (const file of input.files) {
    if (!named.has(file.name))
      throw new SubmissionError(400, `attachment "${file.name}" is not named by any field of the submission`);
  }
  const xmlSha = createHash("sha256").update(input.xml).digest("hex");
  const plan = () => planOf(ctx, checked, xmlSha);
  const first = plan();
  if (first.kind === "duplicate-old") return { row: first.row, outcome: "duplicate" };
  for (const file of input.files)
    await f.store.put(file.sha256, file.data ? Readable.from([file.data]) : { file: file.file }, file.size);
  return ctx.tx(() => {
    // Planned again inside the transaction: a concurrent POST of the same instanceID may have committed since.
    const p = plan();
    if (p.kind === "duplicate-old") return { row: p.row, outcome: "duplicate" as const };
    const at = now();
    let id: string;
    if (p.kind === "create") id = insertSubmission(ctx, checked, input, xmlSha, at);
    else if (p.kind === "edit") id = editByClient(ctx, p.row, checked, input, xmlSha, at);
    else id = p.row.id;
    let added = 0;
    for (const file of input.files) {
      added += ctx.db
        .prepare(
          `INSERT INTO submission_attachments (submission_id, name, sha256, size, content_type, received_at)
           VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (submission_id, name) DO UPDATE SET sha256 = excluded.sha256,
             size = excluded.size, content_type = excluded.content_type, received_at = excluded.received_at
           WHERE excluded.sha256 != submission_attachments.sha256`,
        )
        .run(id, file.name, file.sha256, file.size, file.type || "application/octet-stream", at).changes;
    }
    const row = markComplete(ctx, id);
    const outcome =
      p.kind === "create" ? "created" : p.kind === "edit" ? "edited" : added ? "merged" : "duplicate";
    return { row, outcome };
  });
}

type Plan = { kind: "create" } | { kind: "merge" | "edit" | "duplicate-old"; row: SubmissionRow };

/** What a POST does: a new submission, more of the current revision, an edit, or a resend of an older one. */
function planOf(ctx: Ctx, checked: CheckedSubmission, xmlSha: string): Plan {
  const seen = instanceOf(ctx, checked.formId, checked.instanceId);
  if (seen) {
    if (seen.xml_sha256 !== xmlSha)
      throw new SubmissionError(
        409,
        `instanceID ${checked.instanceId} was already submitted with different content (edits need a new instanceID)`,
      );
    const row = getSubmission(ctx, seen.submission_id)!;
    return { kind: row.current_instance_id === checked.instanceId ? "merge" : "duplicate-old", row };
  }
  if (!checked.deprecatedId) return { kind: "create" };
  const old = instanceOf(ctx, checked.formId, checked.deprecatedId);
  if (!old)
    throw new SubmissionError(
      404,
      `meta/deprecatedID ${checked.deprecatedId}: no submission of form "${checked.formId}" has that instanceID`,
    );
  const row = getSubmission(ctx, old.submission_id)!;
  if (row.current_instance_id !== checked.deprecatedId)
    throw new SubmissionError(
      409,
      `meta/deprecatedID ${checked.deprecatedId} is an earlier revision; edit the current one (${row.current_instance_id})`,
    );
  return { kind: "edit", row };
}

function insertSubmission(
  ctx: Ctx,
  checked: CheckedSubmission,
  input: { xml: string; submitter: string },
  xmlSha: string,
  at: string,
): string {
  const id = randomUUID();
  ctx.db
    .prepare(
      `INSERT INTO submissions (id, form_id, version, instance_id, current_instance_id, instance_name, xml, xml_sha256,
         fields, expected, submitter, site, received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      id,
      checked.formId,
      checked.version,
      checked.instanceId,
      checked.instanceId,
      checked.instanceName,
      input.xml,
      xmlSha,
      JSON.stringify(checked.values),
      JSON.stringify(checked.attachments),
      input.submitter,
      ctx.site,
      at,
      at,
    );
  rememberInstance(ctx, checked, id, 1, xmlSha);
  return id;
}

/** An OpenRosa edit: the current data becomes a revision, the new data (and instanceID) the submission's. */
function editByClient(
  ctx: Ctx,
  row: SubmissionRow,
  checked: CheckedSubmission,
  input: { xml: string; submitter: string },
  xmlSha: string,
  at: string,
): string {
  if (checked.version !== row.version && !getVersion(ctx, row.form_id, checked.version))
    throw new SubmissionError(404, `unknown version "${checked.version}"`);
  ctx.db
    .prepare(
      `INSERT INTO submission_revisions (submission_id, revision, xml, fields, created_by, created_at, instance_id)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(row.id, row.revision, row.xml, row.fields, input.submitter, at, row.current_instance_id);
  ctx.db
    .prepare(
      `UPDATE submissions SET version = ?, current_instance_id = ?, instance_name = ?, xml = ?, xml_sha256 = ?,
         fields = ?, expected = ?, complete = 0, revision = revision + 1, review_state = 'edited', updated_at = ?
       WHERE id = ?`,
    )
    .run(
      checked.version,
      checked.instanceId,
      checked.instanceName,
      input.xml,
      xmlSha,
      JSON.stringify(checked.values),
      JSON.stringify(checked.attachments),
      at,
      row.id,
    );
  ctx.db
    .prepare(
      "INSERT INTO submission_reviews (submission_id, state, comment, by, at) VALUES (?, 'edited', ?, ?, ?)",
    )
    .run(row.id, `edited on the device (replaces ${row.current_instance_id})`, input.submitter, at);
  rememberInstance(ctx, checked, row.id, row.revision + 1, xmlSha);
  return row.id;
}

function rememberInstance(ctx: Ctx, checked: CheckedSubmission, id: string, revision: number, sha: string) {
  ctx.db
    .prepare(
      "INSERT INTO submission_instances (form_id, instance_id, submission_id, revision, xml_sha256) VALUES (?, ?, ?, ?, ?)",
    )
    .run(checked.formId, checked.instanceId, id, revision, sha);
}

function instanceOf(ctx: Ctx, formId: string, instanceId: string) {
  return ctx.db
    .prepare("SELECT * FROM submission_instances WHERE form_id = ? AND instance_id = ?")
    .get(formId, instanceId) as { submission_id: string; revision: number; xml_sha256: string } | undefined;
}

/** Sets `complete` once every named attachment is there, emitting `submitted` exactly then. */
function markComplete(ctx: Ctx, id: string): SubmissionRow {
  const row = getSubmission(ctx, id)!;
  if (row.complete) return row;
  const have = new Set(attachmentNames(ctx, id));
  const expected = JSON.parse(row.expected) as string[];
  if (!expected.every((n) => have.has(n))) return row;
  ctx.db.prepare("UPDATE submissions SET complete = 1, updated_at = ? WHERE id = ?").run(now(), id);
  const done = getSubmission(ctx, id)!;
  recordSubmission(ctx, done, attachmentRows(ctx, id));
  ctx.emit("submitted", {
    id: done.id,
    formId: done.form_id,
    version: done.version,
    instanceId: done.instance_id,
    currentInstanceId: done.current_instance_id,
    revision: done.revision,
    submitter: done.submitter,
    site: done.site,
    attachments: attachmentRows(ctx, id).map((a) => ({ name: a.name, sha256: a.sha256, size: a.size })),
  });
  return done;
}

export function getSubmission(ctx: Ctx, id: string): SubmissionRow | undefined {
  return ctx.db.prepare("SELECT * FROM submissions WHERE id = ?").get(id) as SubmissionRow | undefined;
}

export interface AttachmentOfSubmission {
  name: string;
  sha256: string;
  size: number;
  content_type: string;
  received_at: string;
}

export function attachmentRows(ctx: Ctx, id: string): AttachmentOfSubmission[] {
  return ctx.db
    .prepare("SELECT * FROM submission_attachments WHERE submission_id = ? ORDER BY name")
    .all(id) as AttachmentOfSubmission[];
}

function attachmentNames(ctx: Ctx, id: string): string[] {
  return attachmentRows(ctx, id).map((a) => a.name);
}
