/**
 * Receiving OpenRosa submissions. Everything is checked before anything is stored; attachments are stored
 * as blobs first and then the submission, its attachments and its event in one transaction. A submission
 * split across several POSTs (Collect splits above the server's accepted length) is merged by instanceID; a
 * resend of what is already stored is a success that stores nothing new (no duplicate).
 */
import { createHash, randomUUID } from "node:crypto";
import { getVersion } from "./forms.js";
import { recordSubmission } from "./hub-sync.js";
import { type Ctx, type FormsRuntime, now, putBlob } from "./state.js";
import {
  type CheckedSubmission,
  checkSubmission,
  parseSubmission,
  SubmissionError,
  submissionHeader,
} from "./submission-check.js";
import type { SubmissionRow } from "./submission-row.js";
import type { FormDef } from "./xform.js";

export interface PostedFile {
  name: string;
  type: string;
  data: Buffer;
}

export type { SubmissionRow };

export interface Received {
  row: SubmissionRow;
  /** What this POST added: new submission, more attachments, or nothing (a resend). */
  outcome: "created" | "merged" | "duplicate";
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

/** Receives one OpenRosa POST: the submission XML and some or all of its attachments. */
export async function receiveSubmission(
  ctx: Ctx,
  f: FormsRuntime,
  input: { xml: string; files: PostedFile[]; submitter: string },
): Promise<Received> {
  const { checked } = checkAgainstForm(ctx, input.xml);
  const named = new Set(checked.attachments);
  for (const file of input.files) {
    if (!named.has(file.name))
      throw new SubmissionError(400, `attachment "${file.name}" is not named by any field of the submission`);
  }
  const xmlSha = createHash("sha256").update(input.xml).digest("hex");
  const before = byInstance(ctx, checked.formId, checked.instanceId);
  if (before && before.xml_sha256 !== xmlSha)
    throw new SubmissionError(
      409,
      `instanceID ${checked.instanceId} was already submitted with different content (edits need a new instanceID)`,
    );
  const blobs: { file: PostedFile; sha256: string }[] = [];
  for (const file of input.files) blobs.push({ file, sha256: (await putBlob(f, file.data)).sha256 });
  return ctx.tx(() => {
    // Checked again inside the transaction: a concurrent POST of the same instanceID may have committed since.
    const existing = byInstance(ctx, checked.formId, checked.instanceId);
    if (existing && existing.xml_sha256 !== xmlSha)
      throw new SubmissionError(
        409,
        `instanceID ${checked.instanceId} was already submitted with different content`,
      );
    const at = now();
    let id = existing?.id;
    if (!id) {
      id = randomUUID();
      ctx.db
        .prepare(
          `INSERT INTO submissions (id, form_id, version, instance_id, instance_name, xml, xml_sha256, fields, expected,
             submitter, site, received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          checked.formId,
          checked.version,
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
    }
    let added = 0;
    for (const { file, sha256 } of blobs) {
      added += ctx.db
        .prepare(
          `INSERT OR IGNORE INTO submission_attachments (submission_id, name, sha256, size, content_type, received_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
        )
        .run(id, file.name, sha256, file.data.length, file.type || "application/octet-stream", at).changes;
    }
    const row = markComplete(ctx, id);
    const outcome = !existing ? "created" : added ? "merged" : "duplicate";
    return { row, outcome };
  });
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
    submitter: done.submitter,
    site: done.site,
    attachments: attachmentRows(ctx, id).map((a) => ({ name: a.name, sha256: a.sha256, size: a.size })),
  });
  return done;
}

function byInstance(ctx: Ctx, formId: string, instanceId: string): SubmissionRow | undefined {
  return ctx.db
    .prepare("SELECT * FROM submissions WHERE form_id = ? AND instance_id = ?")
    .get(formId, instanceId) as SubmissionRow | undefined;
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
