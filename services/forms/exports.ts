/**
 * Exports of a form's submissions: CSV (one row per submission, one column per field; repeat instances as
 * `path[n]` columns), GeoJSON (a Point per submission with a geopoint) and a ZIP with the CSV and every
 * attachment, streamed (fflate) so a large export never sits in memory.
 */
import { Zip, ZipPassThrough } from "fflate";
import { getVersion } from "./forms.js";
import { eachSubmission, type SubmissionFilter } from "./review.js";
import type { Ctx, FormsRuntime } from "./state.js";
import { isGeopoint } from "./submission-check.js";
import { attachmentRows, type SubmissionRow } from "./submissions.js";
import type { FormDef } from "./xform.js";

type Filter = Omit<SubmissionFilter, "limit" | "offset"> & { formId: string };
const META = ["submissionId", "instanceId", "version", "submitter", "site", "receivedAt", "reviewState"];

/** One CSV cell: quoted when needed; a leading = + - @ is prefixed with ' (no formula injection in a spreadsheet). */
export function csvCell(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function columnsOf(ctx: Ctx, f: Filter): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const add = (k: string) => {
    if (!seen.has(k)) {
      seen.add(k);
      order.push(k);
    }
  };
  for (const r of eachSubmission(ctx, f)) {
    const v = getVersion(ctx, r.form_id, r.version);
    if (v && !seen.has(`#${r.version}`)) {
      seen.add(`#${r.version}`);
      for (const fd of (JSON.parse(v.def) as FormDef).fields)
        if (fd.type !== "group" && fd.type !== "repeat" && !fd.inRepeat) add(fd.path);
    }
    for (const k of Object.keys(JSON.parse(r.fields) as object)) add(k);
  }
  return order;
}

/** The CSV export, line by line. */
export function* csvLines(ctx: Ctx, f: Filter): Generator<string> {
  const cols = columnsOf(ctx, f);
  yield `${[...META, ...cols].map(csvCell).join(",")}\n`;
  for (const r of eachSubmission(ctx, f)) {
    const values = JSON.parse(r.fields) as Record<string, string>;
    const meta = [r.id, r.instance_id, r.version, r.submitter, r.site, r.received_at, r.review_state];
    yield `${[...meta, ...cols.map((c) => values[c] ?? "")].map(csvCell).join(",")}\n`;
  }
}

/** The GeoJSON export: a FeatureCollection with a Point for each submission's first geopoint. */
export function geoJson(ctx: Ctx, f: Filter) {
  const features = [];
  for (const r of eachSubmission(ctx, f)) {
    const values = JSON.parse(r.fields) as Record<string, string>;
    const point = firstGeopoint(ctx, r, values);
    if (!point) continue;
    const [lat, lon, alt] = point.split(/\s+/).map(Number) as [number, number, number?];
    features.push({
      type: "Feature" as const,
      geometry: { type: "Point" as const, coordinates: alt === undefined ? [lon, lat] : [lon, lat, alt] },
      properties: { submissionId: r.id, instanceId: r.instance_id, receivedAt: r.received_at, ...values },
    });
  }
  return { type: "FeatureCollection" as const, features };
}

function firstGeopoint(ctx: Ctx, r: SubmissionRow, values: Record<string, string>): string | null {
  const v = getVersion(ctx, r.form_id, r.version);
  const def = v ? (JSON.parse(v.def) as FormDef) : null;
  const geo = def?.fields.find(
    (fd) => fd.type === "geopoint" && values[fd.path] && isGeopoint(values[fd.path]!),
  );
  return geo ? values[geo.path]! : null;
}

/** The ZIP export as a web stream: `<formId>.csv` and `media/<submissionId>/<file>`. */
export function zipStream(ctx: Ctx, rt: FormsRuntime, f: Filter): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async start(controller) {
      const zip = new Zip((err, chunk, final) => {
        if (err) controller.error(err);
        else {
          controller.enqueue(chunk);
          if (final) controller.close();
        }
      });
      try {
        const csv = new ZipPassThrough(`${f.formId}.csv`);
        zip.add(csv);
        for (const line of csvLines(ctx, f)) csv.push(Buffer.from(line));
        csv.push(new Uint8Array(0), true);
        for (const r of eachSubmission(ctx, f)) {
          for (const a of attachmentRows(ctx, r.id)) {
            const entry = new ZipPassThrough(`media/${r.id}/${a.name}`);
            zip.add(entry);
            for await (const chunk of await rt.store.get(a.sha256)) entry.push(chunk as Buffer);
            entry.push(new Uint8Array(0), true);
          }
        }
        zip.end();
      } catch (err) {
        controller.error(err);
      }
    },
  });
}
