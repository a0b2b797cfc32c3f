/**
 * Submissions: a table filtered by form, review state and dates; approve, reject with a comment, or edit the
 * data (kept by the box as a new revision); attachments shown (images inline); the geopoints on a map; exports
 * of the filtered form as CSV, GeoJSON or a ZIP with attachments.
 */
import { useEffect, useState } from "preact/hooks";
import { can } from "../access";
import { get, post } from "../api";
import { when } from "../format";
import type { PageProps } from "../main";
import { Action, Empty, Field, Select, Table, useOutcome } from "../ui";
import { type Filter, type FormItem, filterQuery, type Submission } from "./forms-api";
import { type MapPoint, PointsMap, parseGeopoint } from "./forms-map";
import { SubmissionDetail } from "./forms-submission";

const STATES = ["", "received", "approved", "rejected", "edited"];

/** A value as ODK writes a geopoint (`lat lon alt acc`), or two numbers in a field named like a place. */
const looksLikeGeopoint = (k: string, v: string) => {
  const n = v.trim().split(/\s+/).length;
  return n === 4 || (n === 2 && /geo|loc|gps|point|position/i.test(k));
};

/** Every geopoint-looking field of the submissions. */
function pointsOf(subs: Submission[]): MapPoint[] {
  return subs.flatMap((s) =>
    Object.entries(s.fields).flatMap(([k, v]) => {
      const p = looksLikeGeopoint(k, v) ? parseGeopoint(v) : null;
      return p
        ? [{ id: `${s.id}/${k}`, lat: p[0], lon: p[1], label: `${s.instanceName ?? s.instanceId} (${k})` }]
        : [];
    }),
  );
}

export function SubmissionsTab({ me }: PageProps) {
  const [forms, setForms] = useState<FormItem[]>([]);
  const [filter, setFilter] = useState<Filter>({ formId: "", reviewState: "", from: "", to: "" });
  const [subs, setSubs] = useState<{ total: number; submissions: Submission[] }>({
    total: 0,
    submissions: [],
  });
  const [open, setOpen] = useState<string | null>(null);
  const outcome = useOutcome();
  const review = can(me.permissions, "forms:review");
  const load = () =>
    outcome.run(async () =>
      setSubs(await get(`/api/forms/submissions${filterQuery(filter, { limit: "200" })}`)),
    );
  useEffect(() => {
    void get<{ forms: FormItem[] }>("/api/forms/forms").then(
      (r) => setForms(r.forms),
      () => undefined,
    );
  }, []);
  useEffect(() => {
    void load();
  }, [filter]);
  const set = (k: keyof Filter) => (v: string) => setFilter({ ...filter, [k]: v });
  const approve = (s: Submission) =>
    outcome
      .run(() => post(`/api/forms/submissions/${s.id}/review`, { state: "approved" }), "Approved.")
      .then(load);
  const exportable = can(me.permissions, "forms:export") && filter.formId;
  const exportHref = (ext: string) =>
    `/api/forms/forms/${encodeURIComponent(filter.formId)}/export.${ext}${filterQuery({ ...filter, formId: "" })}`;

  return (
    <>
      <div class="toolbar">
        <Select
          label="Form"
          value={filter.formId}
          onChange={set("formId")}
          options={[
            { value: "", label: "All forms" },
            ...forms.map((f) => ({ value: f.id, label: f.title })),
          ]}
        />
        <Select
          label="Review state"
          value={filter.reviewState}
          onChange={set("reviewState")}
          options={STATES.map((s) => ({ value: s, label: s || "Any" }))}
        />
        <Field label="From (UTC date)" type="date" value={filter.from} onInput={set("from")} />
        <Field label="Before (UTC date)" type="date" value={filter.to} onInput={set("to")} />
      </div>
      {exportable && (
        <p class="toolbar">
          Export:{" "}
          {["csv", "geojson", "zip"].map((ext) => (
            <a key={ext} class="btn plain" href={exportHref(ext)} download>
              {ext.toUpperCase()}
            </a>
          ))}
        </p>
      )}
      {outcome.view}
      <PointsMap points={pointsOf(subs.submissions)} />
      {subs.submissions.length === 0 ? (
        <Empty>No submissions match.</Empty>
      ) : (
        <Table columns={["Received", "Form", "Instance", "Submitter", "State", ""]} caption="Submissions">
          {subs.submissions.map((s) => (
            <tr key={s.id}>
              <td>{when(s.receivedAt)}</td>
              <td>
                {s.formId} <span class="muted">v{s.version}</span>
              </td>
              <td>{s.instanceName ?? s.instanceId}</td>
              <td>{s.submitter}</td>
              <td>
                <span class="badge">{s.reviewState}</span>
                {s.reviewComment && <span class="small"> {s.reviewComment}</span>}
              </td>
              <td>
                <Action label={`Open ${s.instanceId}`} onClick={() => setOpen(open === s.id ? null : s.id)}>
                  {open === s.id ? "Close" : "Open"}
                </Action>
                {review && s.reviewState !== "approved" && (
                  <Action kind="primary" label={`Approve ${s.instanceId}`} onClick={() => approve(s)}>
                    Approve
                  </Action>
                )}
              </td>
            </tr>
          ))}
        </Table>
      )}
      <p class="small">
        {subs.submissions.length} of {subs.total} shown.
      </p>
      {open && <SubmissionDetail id={open} review={review} onChanged={load} />}
    </>
  );
}
