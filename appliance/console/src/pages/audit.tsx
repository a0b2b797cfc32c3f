/** The audit log, newest first, with filters and paging backwards. */
import { useEffect, useState } from "preact/hooks";
import { get } from "../api";
import { when } from "../format";
import type { AuditEntry as Entry } from "../types";
import { Empty, Field, Form, Select, Table, useOutcome } from "../ui";

const PAGE = 50;

export function AuditTab() {
  const [actor, setActor] = useState("");
  const [action, setAction] = useState("");
  const [result, setResult] = useState("");
  const [since, setSince] = useState("");
  const [entries, setEntries] = useState<Entry[]>([]);
  const [more, setMore] = useState(false);
  const outcome = useOutcome();

  const query = (before?: number) => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (actor) q.set("actor", actor);
    if (action) q.set("action", action);
    if (result) q.set("outcome", result);
    if (since) {
      const d = new Date(since);
      if (!Number.isNaN(d.getTime())) q.set("since", d.toISOString());
    }
    if (before) q.set("before", String(before));
    return `/api/identity/audit?${q}`;
  };
  const load = (before?: number) =>
    outcome.run(async () => {
      const r = await get<{ entries: Entry[] }>(query(before));
      setEntries(before ? [...entries, ...r.entries] : r.entries);
      setMore(r.entries.length === PAGE);
    });
  useEffect(() => {
    void load();
  }, []);

  return (
    <div>
      <Form label="Filter the audit log" submit="Apply filters" class="form inline" onSubmit={() => load()}>
        <Field label="Actor" value={actor} onInput={setActor} name="audit-actor" />
        <Field
          label="Action"
          value={action}
          onInput={setAction}
          placeholder="e.g. login"
          name="audit-action"
        />
        <Select
          label="Outcome"
          value={result}
          onChange={setResult}
          options={[
            { value: "", label: "any" },
            { value: "success", label: "success" },
            { value: "failure", label: "failure" },
          ]}
        />
        <Field label="Since" type="datetime-local" value={since} onInput={setSince} name="audit-since" />
      </Form>
      <div aria-live="polite">{outcome.view}</div>
      {entries.length === 0 ? (
        <Empty>No entries match.</Empty>
      ) : (
        <Table columns={["When", "Actor", "Action", "Target", "Outcome", "From", "Details"]}>
          {entries.map((e) => (
            <tr key={e.seq}>
              <td>{when(e.at)}</td>
              <td>{e.actor ?? "–"}</td>
              <th scope="row">{e.action}</th>
              <td>{e.target ?? "–"}</td>
              <td class={e.outcome === "failure" ? "bad" : undefined}>{e.outcome}</td>
              <td>{e.ip ?? "–"}</td>
              <td>
                <code>{Object.keys(e.details).length ? JSON.stringify(e.details) : ""}</code>
              </td>
            </tr>
          ))}
        </Table>
      )}
      {more && (
        <button type="button" class="btn plain" onClick={() => load(entries[entries.length - 1]?.seq)}>
          Older entries
        </button>
      )}
    </div>
  );
}
