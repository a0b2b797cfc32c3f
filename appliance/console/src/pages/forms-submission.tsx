/**
 * One submission: its fields, attachments (images inline, others as links, each with what the AI service found in
 * it), its history, and for reviewers
 * rejecting with a comment and editing the data as a new revision.
 */
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, headersFor, post } from "../api";
import { when } from "../format";
import { Action, Field, useOutcome } from "../ui";
import { AiDetails } from "./files-ai";
import type { Submission } from "./forms-api";

interface History {
  reviews: { state: string; comment: string | null; by: string; at: string }[];
  revisions: { revision: number; createdBy: string; createdAt: string }[];
}

async function putXml(id: string, xml: string): Promise<void> {
  const res = await fetch(`/api/forms/submissions/${id}/xml`, {
    method: "PUT",
    credentials: "same-origin",
    headers: headersFor("PUT", { "content-type": "application/xml" }),
    body: xml,
  });
  if (!res.ok) {
    const e = (await res.json().catch(() => ({}))) as { message?: string };
    throw new ApiError(res.status, e.message ?? `edit refused (${res.status})`);
  }
}

export function SubmissionDetail(props: { id: string; review: boolean; onChanged: () => unknown }) {
  const [sub, setSub] = useState<Submission | null>(null);
  const [history, setHistory] = useState<History | null>(null);
  const [comment, setComment] = useState("");
  const [xml, setXml] = useState("");
  const outcome = useOutcome();
  const base = `/api/forms/submissions/${encodeURIComponent(props.id)}`;
  const load = () =>
    outcome.run(async () => {
      const s = await get<Submission>(base);
      setSub(s);
      setXml(s.xml ?? "");
      setHistory(await get<History>(`${base}/history`));
    });
  useEffect(() => {
    void load();
  }, [props.id]);
  if (!sub) return outcome.view;
  const changed = async () => {
    await load();
    await props.onChanged();
  };
  const reject = () =>
    outcome.run(() => post(`${base}/review`, { state: "rejected", comment }), "Rejected.").then(changed);
  const edit = () => outcome.run(() => putXml(props.id, xml), "Saved as a new revision.").then(changed);

  return (
    <section class="panel" aria-label={`Submission ${sub.instanceId}`}>
      <h2>{sub.instanceName ?? sub.instanceId}</h2>
      {outcome.view}
      <dl class="fields">
        {Object.entries(sub.fields).map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      {sub.attachments.length > 0 && <h3>Attachments</h3>}
      <div class="attachments">
        {sub.attachments.map((a) => {
          const href = `${base}/attachments/${encodeURIComponent(a.name)}`;
          if (!a.present) return <p key={a.name}>{a.name} (not received yet)</p>;
          return a.contentType?.startsWith("image/") ? (
            <a key={a.name} href={href}>
              <img src={href} alt={a.name} class="thumb" />
            </a>
          ) : (
            <a key={a.name} href={href} download>
              {a.name}
            </a>
          );
        })}
      </div>
      {sub.attachments.map(
        (a) =>
          a.ai && (
            <details key={`ai-${a.name}`}>
              <summary>AI: {a.name}</summary>
              <AiDetails name={a.name} metadata={a.ai} />
            </details>
          ),
      )}
      {props.review && (
        <div class="toolbar">
          <Field label="Comment" value={comment} onInput={setComment} />
          <Action kind="danger" label="Reject" disabled={!comment.trim()} onClick={reject}>
            Reject
          </Action>
        </div>
      )}
      {props.review && (
        <details>
          <summary>Edit the data (kept as revision {sub.revision + 1})</summary>
          <textarea
            aria-label="Submission XML"
            rows={10}
            value={xml}
            onInput={(e) => setXml((e.target as HTMLTextAreaElement).value)}
          />
          <Action onClick={edit}>Save revision</Action>
        </details>
      )}
      {history && (
        <ul class="plain-list small" aria-label="History">
          {history.reviews.map((r) => (
            <li key={`${r.at}${r.state}`}>
              {when(r.at)}: {r.state} by {r.by}
              {r.comment ? ` — ${r.comment}` : ""}
            </li>
          ))}
          {history.revisions.map((r) => (
            <li key={`rev${r.revision}`}>
              {when(r.createdAt)}: revision {r.revision} by {r.createdBy}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
