/**
 * Form definitions managed on the hub, applied on the box (`syncApply.forms`): the hub admin writes
 * `PUT /api/hub/data/forms/forms/<formId>:<version>` `{ data: { xml, state } }` and every enrolled box gets
 * that version of the form (the XForm XML) in that state; a delete archives it. A record is applied only when
 * its HLC is later than the last one applied for its key (`form_hub_versions`): replays change nothing. A
 * record the box cannot apply (malformed, an XForm that fails its checks, a key that is not the XForm's id
 * and version, a published version whose XML differs, a publish while attachments are missing) is skipped
 * with a warning, never thrown (a throwing handler would be retried forever). Nothing here records for the
 * hub (no echo). A record may name the version's attachments (`attachments: [{ name, sha256, size,
 * contentType }]`, uploaded to the hub with `PUT /api/hub/forms/attachments/<sha256>`): the version then waits
 * as a draft in `form_hub_pending` until hub-form-media.ts has fetched them, and is then published.
 */
import { z } from "zod";
import { ApiError } from "../../appliance/kit/index.js";
import type { ChangeRecord } from "../../appliance/sync/change.js";
import { addVersion, archiveVersion, getVersion, publishVersion } from "./forms.js";
import type { Ctx } from "./state.js";
import { FILE_NAME, readXForm } from "./xform.js";

const hubForm = z.object({
  xml: z
    .string()
    .min(1)
    .max(10 * 1024 * 1024),
  state: z.enum(["draft", "published", "archived"]).default("published"),
  attachments: z
    .array(
      z
        .object({
          name: z.string().regex(FILE_NAME),
          sha256: z.string().regex(/^[0-9a-f]{64}$/),
          size: z
            .number()
            .int()
            .min(0)
            .max(100 * 1024 ** 2),
          contentType: z.string().max(200).default("application/octet-stream"),
        })
        .strict(),
    )
    .max(500)
    .default([]),
});

export type HubAttachment = z.infer<typeof hubForm>["attachments"][number];

/** Applies one hub record of the `forms` collection. */
export function applyHubForm(ctx: Ctx, r: ChangeRecord): void {
  const where = { key: r.key, hlc: r.hlc };
  const mine = ctx.db.prepare("SELECT hlc FROM form_hub_versions WHERE key = ?").get(r.key) as
    | { hlc: string }
    | undefined;
  if (mine && mine.hlc >= r.hlc) return;
  try {
    ctx.tx(() => {
      apply(ctx, r);
      ctx.db
        .prepare(
          "INSERT INTO form_hub_versions (key, hlc) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET hlc = excluded.hlc",
        )
        .run(r.key, r.hlc);
    });
    ctx.log.info({ ...where, op: r.op }, "hub form applied");
  } catch (err) {
    ctx.log.warn({ ...where, problem: (err as Error).message }, "hub form skipped");
  }
}

function apply(ctx: Ctx, r: ChangeRecord) {
  const sep = r.key.lastIndexOf(":");
  const [formId, version] = sep < 0 ? [r.key, ""] : [r.key.slice(0, sep), r.key.slice(sep + 1)];
  if (r.op === "delete") {
    if (getVersion(ctx, formId, version)) archiveVersion(ctx, formId, version);
    return;
  }
  const data = hubForm.parse(r.data);
  const def = readXForm(data.xml);
  if (def.formId !== formId || def.version !== version)
    throw new Error(`the key is not the XForm's id and version (${def.formId}:${def.version})`);
  const have = getVersion(ctx, formId, version);
  if (!have || have.state === "draft") addVersion(ctx, data.xml, { by: "hub", source: "xform" });
  else if (have.xml !== data.xml)
    throw new ApiError(409, `version ${version} is ${have.state}: its XML cannot change`);
  const draft = getVersion(ctx, formId, version)!.state === "draft";
  if (draft && data.attachments.length && data.state !== "archived") {
    const unknown = data.attachments.filter((a) => !def.mediaFiles.includes(a.name));
    if (unknown.length) throw new Error(`the XForm references no attachment named ${unknown[0]!.name}`);
    ctx.db
      .prepare(
        `INSERT INTO form_hub_pending (form_id, version, state, attachments) VALUES (?, ?, ?, ?)
         ON CONFLICT (form_id, version) DO UPDATE SET state = excluded.state, attachments = excluded.attachments`,
      )
      .run(formId, version, data.state, JSON.stringify(data.attachments));
    return; // published by hub-form-media.ts once the attachments are here
  }
  if (data.state === "published") publishVersion(ctx, formId, version);
  if (data.state === "archived") archiveVersion(ctx, formId, version);
}
