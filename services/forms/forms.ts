/**
 * Forms and their versions. A version is draft → published → archived; a published or archived version never
 * changes (a new definition needs a new version string). Form attachments belong to a draft version, must be
 * files the XForm references, and must all be there before it is published.
 */
import { ApiError } from "../../appliance/kit/index.js";
import { type Ctx, type FormsRuntime, now, putBlob } from "./state.js";
import { type FormDef, md5, readXForm } from "./xform.js";
import { XmlError } from "./xml.js";

export type VersionState = "draft" | "published" | "archived";

export interface VersionRow {
  form_id: string;
  version: string;
  state: VersionState;
  title: string;
  xml: string;
  md5: string;
  def: string;
  source: "xform" | "xlsform";
  created_by: string;
  created_at: string;
  published_at: string | null;
  archived_at: string | null;
}

export interface AttachmentRow {
  form_id: string;
  version: string;
  name: string;
  sha256: string;
  md5: string;
  size: number;
  content_type: string;
  created_at: string;
}

/** A version as the API shows it. */
export function versionOut(ctx: Ctx, v: VersionRow) {
  const def = JSON.parse(v.def) as FormDef;
  const have = new Set(attachmentsOf(ctx, v.form_id, v.version).map((a) => a.name));
  return {
    formId: v.form_id,
    version: v.version,
    state: v.state,
    title: v.title,
    hash: `md5:${v.md5}`,
    source: v.source,
    createdBy: v.created_by,
    createdAt: v.created_at,
    publishedAt: v.published_at,
    archivedAt: v.archived_at,
    fieldCount: def.fields.filter((f) => f.type !== "group" && f.type !== "repeat").length,
    attachments: def.mediaFiles.map((name) => ({ name, uploaded: have.has(name) })),
  };
}

/** Stores an XForm as a draft version (a new form, a new version, or a draft replaced). */
export function addVersion(
  ctx: Ctx,
  xml: string,
  opts: { by: string; source: "xform" | "xlsform" },
): { row: VersionRow; created: boolean } {
  let def: FormDef;
  try {
    def = readXForm(xml);
  } catch (err) {
    if (err instanceof XmlError) throw new ApiError(400, `invalid XForm: ${err.message}`);
    throw err;
  }
  const at = now();
  return ctx.tx(() => {
    const existing = getVersion(ctx, def.formId, def.version);
    if (existing && existing.state !== "draft") {
      throw new ApiError(
        409,
        `version "${def.version}" of form ${def.formId} is ${existing.state} and cannot change; give the new definition a new version`,
        { formId: def.formId, version: def.version, state: existing.state },
      );
    }
    ctx.db
      .prepare(
        `INSERT INTO forms (id, title, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET title = excluded.title, updated_at = excluded.updated_at`,
      )
      .run(def.formId, def.title, opts.by, at, at);
    const hash = md5(xml);
    if (existing) {
      ctx.db
        .prepare(
          "UPDATE form_versions SET xml = ?, md5 = ?, def = ?, title = ?, source = ? WHERE form_id = ? AND version = ?",
        )
        .run(xml, hash, JSON.stringify(def), def.title, opts.source, def.formId, def.version);
      const keep = new Set(def.mediaFiles);
      for (const a of attachmentsOf(ctx, def.formId, def.version)) {
        if (!keep.has(a.name))
          ctx.db
            .prepare("DELETE FROM form_attachments WHERE form_id = ? AND version = ? AND name = ?")
            .run(def.formId, def.version, a.name);
      }
    } else {
      ctx.db
        .prepare(
          `INSERT INTO form_versions (form_id, version, state, title, xml, md5, def, source, created_by, created_at)
           VALUES (?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(def.formId, def.version, def.title, xml, hash, JSON.stringify(def), opts.source, opts.by, at);
    }
    return { row: getVersion(ctx, def.formId, def.version)!, created: !existing };
  });
}

export function getVersion(ctx: Ctx, formId: string, version: string): VersionRow | undefined {
  return ctx.db
    .prepare("SELECT * FROM form_versions WHERE form_id = ? AND version = ?")
    .get(formId, version) as VersionRow | undefined;
}

/** A version, or 404. */
export function requireVersion(ctx: Ctx, formId: string, version: string): VersionRow {
  const v = getVersion(ctx, formId, version);
  if (!v) throw new ApiError(404, `no version "${version}" of form ${formId}`, { formId, version });
  return v;
}

export function versionsOf(ctx: Ctx, formId: string): VersionRow[] {
  return ctx.db
    .prepare("SELECT * FROM form_versions WHERE form_id = ? ORDER BY created_at, version")
    .all(formId) as VersionRow[];
}

/** Every form with its versions and submission count. */
export function listForms(ctx: Ctx) {
  const forms = ctx.db.prepare("SELECT * FROM forms ORDER BY id").all() as {
    id: string;
    title: string;
    created_at: string;
    updated_at: string;
  }[];
  const counts = new Map(
    (
      ctx.db.prepare("SELECT form_id, COUNT(*) AS n FROM submissions GROUP BY form_id").all() as {
        form_id: string;
        n: number;
      }[]
    ).map((r) => [r.form_id, r.n]),
  );
  return forms.map((f) => formOut(ctx, f, counts.get(f.id) ?? 0));
}

function formOut(
  ctx: Ctx,
  f: { id: string; title: string; created_at: string; updated_at: string },
  n: number,
) {
  const versions = versionsOf(ctx, f.id).map((v) => versionOut(ctx, v));
  const published = versions.filter((v) => v.state === "published");
  return {
    id: f.id,
    title: f.title,
    createdAt: f.created_at,
    updatedAt: f.updated_at,
    currentVersion: published.at(-1)?.version ?? null,
    state: (published.length
      ? "published"
      : versions.some((v) => v.state === "draft")
        ? "draft"
        : "archived") as VersionState,
    submissions: n,
    versions,
  };
}

/** One form, or 404. */
export function getForm(ctx: Ctx, id: string) {
  const f = ctx.db.prepare("SELECT * FROM forms WHERE id = ?").get(id) as
    | { id: string; title: string; created_at: string; updated_at: string }
    | undefined;
  if (!f) throw new ApiError(404, `no form ${id}`, { formId: id });
  const n = (
    ctx.db.prepare("SELECT COUNT(*) AS n FROM submissions WHERE form_id = ?").get(id) as { n: number }
  ).n;
  return formOut(ctx, f, n);
}

/** draft → published; refused while a referenced attachment is missing. */
export function publishVersion(ctx: Ctx, formId: string, version: string): VersionRow {
  return ctx.tx(() => {
    const v = requireVersion(ctx, formId, version);
    if (v.state === "published") return v;
    if (v.state !== "draft")
      throw new ApiError(409, `version "${version}" is ${v.state}; only a draft is published`);
    const have = new Set(attachmentsOf(ctx, formId, version).map((a) => a.name));
    const missing = (JSON.parse(v.def) as FormDef).mediaFiles.filter((n) => !have.has(n));
    if (missing.length)
      throw new ApiError(409, `upload the form's attachments before publishing: ${missing.join(", ")}`, {
        missing,
      });
    ctx.db
      .prepare(
        "UPDATE form_versions SET state = 'published', published_at = ? WHERE form_id = ? AND version = ?",
      )
      .run(now(), formId, version);
    return requireVersion(ctx, formId, version);
  });
}

/** draft or published → archived: gone from the form list, no more submissions. */
export function archiveVersion(ctx: Ctx, formId: string, version: string): VersionRow {
  return ctx.tx(() => {
    const v = requireVersion(ctx, formId, version);
    if (v.state !== "archived")
      ctx.db
        .prepare(
          "UPDATE form_versions SET state = 'archived', archived_at = ? WHERE form_id = ? AND version = ?",
        )
        .run(now(), formId, version);
    return requireVersion(ctx, formId, version);
  });
}

export function attachmentsOf(ctx: Ctx, formId: string, version: string): AttachmentRow[] {
  return ctx.db
    .prepare("SELECT * FROM form_attachments WHERE form_id = ? AND version = ? ORDER BY name")
    .all(formId, version) as AttachmentRow[];
}

/** Stores a form attachment of a draft version; the XForm must reference its name. */
export async function putAttachment(
  ctx: Ctx,
  f: FormsRuntime,
  at: { formId: string; version: string; name: string; contentType: string },
  data: Buffer,
): Promise<AttachmentRow> {
  const v = requireVersion(ctx, at.formId, at.version);
  if (v.state !== "draft")
    throw new ApiError(409, `version "${at.version}" is ${v.state}: its attachments cannot change`);
  if (!(JSON.parse(v.def) as FormDef).mediaFiles.includes(at.name))
    throw new ApiError(400, `the form does not reference an attachment named "${at.name}"`, {
      name: at.name,
    });
  const { sha256, md5: hash } = await putBlob(f, data);
  ctx.db
    .prepare(
      `INSERT INTO form_attachments (form_id, version, name, sha256, md5, size, content_type, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (form_id, version, name) DO UPDATE SET sha256 = excluded.sha256, md5 = excluded.md5,
         size = excluded.size, content_type = excluded.content_type, created_at = excluded.created_at`,
    )
    .run(at.formId, at.version, at.name, sha256, hash, data.length, at.contentType, now());
  return attachmentsOf(ctx, at.formId, at.version).find((a) => a.name === at.name)!;
}

/** The published versions ODK clients may download and submit to. */
export function publishedVersions(ctx: Ctx): VersionRow[] {
  return ctx.db
    .prepare("SELECT * FROM form_versions WHERE state = 'published' ORDER BY form_id, published_at")
    .all() as VersionRow[];
}
