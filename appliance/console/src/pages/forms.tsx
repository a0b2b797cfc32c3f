/**
 * Forms: upload an XLSForm or XForm (a refusal lists its cell-addressed errors), publish and archive versions,
 * submissions per form and day; tabs for the submissions (forms-submissions.tsx) and app users with their QR
 * codes (forms-app-users.tsx). Shown when the forms service runs, each tab to those who may use it.
 */
import { useEffect, useState } from "preact/hooks";
import { can } from "../access";
import { get, messageOf, post } from "../api";
import { when } from "../format";
import type { PageProps } from "../main";
import { Action, Empty, Table, useOutcome } from "../ui";
import { type FormItem, type FormVersion, uploadErrors, uploadForm, versionPath } from "./forms-api";
import { AppUsersTab } from "./forms-app-users";
import { SubmissionsTab } from "./forms-submissions";
import { type PageTab, TabbedPage } from "./tabbed";

const TABS: PageTab[] = [
  { path: "/forms", label: "Forms", needs: "forms:read", view: FormsTab },
  { path: "/forms/submissions", label: "Submissions", needs: "forms:read", view: SubmissionsTab },
  { path: "/forms/app-users", label: "App users", needs: "forms:app-users", view: AppUsersTab },
];

export function FormsPage(props: PageProps) {
  return <TabbedPage title="Forms" tabs={TABS} page={props} />;
}

function FormsTab({ me }: PageProps) {
  const [forms, setForms] = useState<FormItem[]>([]);
  const [errors, setErrors] = useState<string[]>([]);
  const [publish, setPublish] = useState(false);
  const outcome = useOutcome();
  const write = can(me.permissions, "forms:write");
  const load = () =>
    outcome.run(async () => setForms((await get<{ forms: FormItem[] }>("/api/forms/forms")).forms));
  useEffect(() => {
    void load();
  }, []);

  const upload = async (input: HTMLInputElement) => {
    const file = input.files?.[0];
    if (!file) return;
    setErrors([]);
    try {
      const r = await uploadForm(file, publish);
      outcome.set({
        tone: "ok",
        text: `${file.name}: ${r.form.title} ${publish ? "published" : "uploaded as a draft"}.`,
      });
    } catch (err) {
      outcome.set({ tone: "error", text: messageOf(err) });
      setErrors(uploadErrors(err));
    }
    input.value = "";
    await load();
  };

  const act = (v: FormVersion, action: "publish" | "archive") =>
    outcome.run(() => post(versionPath(v, action)), `${v.title} ${v.version}: ${action}ed.`).then(load);

  return (
    <>
      {write && (
        <div class="toolbar">
          <div class="field">
            <label for="form-upload">Upload an XLSForm (.xlsx) or XForm (.xml)</label>
            <input
              id="form-upload"
              type="file"
              accept=".xlsx,.xml,application/xml,text/xml"
              onChange={(e) => upload(e.target as HTMLInputElement)}
            />
          </div>
          <label class="check">
            <input
              type="checkbox"
              checked={publish}
              onChange={(e) => setPublish((e.target as HTMLInputElement).checked)}
            />
            Publish at once
          </label>
        </div>
      )}
      <p class="small">
        Phones and tablets on this network fill published forms in the web app at{" "}
        <a href="/collect/">{location.host}/collect/</a> (with an app user's link) or in ODK Collect.
      </p>
      {outcome.view}
      {errors.length > 0 && (
        <ul class="cell-errors" aria-label="Errors in the uploaded form">
          {errors.map((e) => (
            <li key={e}>{e}</li>
          ))}
        </ul>
      )}
      {forms.length === 0 ? (
        <Empty>No forms yet.</Empty>
      ) : (
        <Table
          columns={["Form", "Version", "State", "Fields", "Media", "Created", ""]}
          caption="Form versions"
        >
          {forms.flatMap((f) =>
            f.versions.map((v) => (
              <tr key={`${f.id}/${v.version}`}>
                <td>
                  {f.title} <span class="muted">({f.id})</span>
                </td>
                <td>{v.version || "—"}</td>
                <td>
                  <span class={`badge ${v.state === "published" ? "ok" : v.state === "draft" ? "mid" : ""}`}>
                    {v.state}
                  </span>
                </td>
                <td>{v.fieldCount}</td>
                <td>
                  {v.attachments.map((a) => `${a.name}${a.uploaded ? "" : " (missing)"}`).join(", ") || "—"}
                </td>
                <td>{when(v.createdAt)}</td>
                <td>
                  {write && v.state === "draft" && (
                    <Action
                      kind="primary"
                      label={`Publish ${f.title} ${v.version}`}
                      onClick={() => act(v, "publish")}
                    >
                      Publish
                    </Action>
                  )}
                  {write && v.state === "published" && (
                    <Action label={`Archive ${f.title} ${v.version}`} onClick={() => act(v, "archive")}>
                      Archive
                    </Action>
                  )}
                </td>
              </tr>
            )),
          )}
        </Table>
      )}
      <Counts />
    </>
  );
}

/** Submissions per form and UTC day, newest days first. */
function Counts() {
  const [rows, setRows] = useState<{ formId: string; day: string; count: number }[]>([]);
  useEffect(() => {
    get<{ counts: { formId: string; day: string; count: number }[] }>("/api/forms/counts").then(
      (r) => setRows(r.counts),
      () => setRows([]),
    );
  }, []);
  if (rows.length === 0) return null;
  return (
    <>
      <h2>Submissions per day</h2>
      <Table columns={["Form", "Day (UTC)", "Submissions"]} caption="Submissions per form and day">
        {[...rows].reverse().map((r) => (
          <tr key={`${r.formId}/${r.day}`}>
            <td>{r.formId}</td>
            <td>{r.day}</td>
            <td>{r.count}</td>
          </tr>
        ))}
      </Table>
    </>
  );
}
