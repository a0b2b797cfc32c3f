/**
 * AI models: what is installed (task, runtime, licence, size, pin) and the execution provider each loaded one
 * runs on; an operator installs a model pack file with upload and verification progress.
 */
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, headersFor, markUnreachable, messageOf } from "../api";
import { bytes } from "../format";
import { Empty, Notice, Table } from "../ui";

interface Model {
  name: string;
  version: string;
  task: string;
  runtime: string;
  license: string;
  builtin: boolean;
  pinned: boolean;
  size: number;
  provider: string | null;
}

interface Job {
  id: string;
  state: "verifying" | "done" | "failed";
  doneBytes: number;
  totalBytes: number;
  model: string | null;
  error: string | null;
}

/** Sends the pack with upload progress (fetch has none), resolving to the install job. */
function sendPack(file: File, onProgress: (pct: number) => void): Promise<Job> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/ai/models");
    for (const [k, v] of Object.entries(headersFor("POST", { "content-type": "application/x-tar" })))
      xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(Math.round((100 * e.loaded) / e.total));
    xhr.onerror = () => {
      markUnreachable();
      reject(new ApiError(0, "The appliance cannot be reached."));
    };
    xhr.onload = () => {
      const body = JSON.parse(xhr.responseText || "{}") as Job & { message?: string };
      if (xhr.status === 202) resolve(body);
      else reject(new ApiError(xhr.status, body.message ?? `install failed (${xhr.status})`));
    };
    xhr.send(file);
  });
}

export function ModelsPage() {
  const [models, setModels] = useState<Model[] | null>(null);
  const [progress, setProgress] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<{ tone: "ok" | "error"; text: string } | null>(null);
  const load = () =>
    get<{ models: Model[] }>("/api/ai/models").then(
      (r) => setModels(r.models),
      (err) => setOutcome({ tone: "error", text: messageOf(err) }),
    );
  useEffect(() => void load(), []);

  const install = async (file: File) => {
    setOutcome(null);
    try {
      let job = await sendPack(file, (pct) => setProgress(`Uploading ${file.name}: ${pct} %`));
      while (job.state === "verifying") {
        setProgress(`Verifying ${file.name}: ${bytes(job.doneBytes)} of ${bytes(job.totalBytes)}`);
        await new Promise((r) => setTimeout(r, 300));
        job = await get<Job>(`/api/ai/jobs/${job.id}`);
      }
      if (job.state === "failed") setOutcome({ tone: "error", text: job.error ?? "install failed" });
      else setOutcome({ tone: "ok", text: `Installed ${job.model}.` });
      await load();
    } catch (err) {
      setOutcome({ tone: "error", text: messageOf(err) });
    } finally {
      setProgress(null);
    }
  };

  return (
    <section class="models" data-ready={models ? "true" : undefined}>
      <h1>AI models</h1>
      {outcome && <Notice tone={outcome.tone}>{outcome.text}</Notice>}
      {models === null ? (
        <p aria-busy="true">Reading the models…</p>
      ) : models.length === 0 ? (
        <Empty>No models installed.</Empty>
      ) : (
        <Table
          columns={["Model", "Version", "Task", "Runtime", "Licence", "Size", "Runs on", ""]}
          caption="Models"
        >
          {models.map((m) => (
            <tr key={m.name}>
              <td>{m.name}</td>
              <td>{m.version}</td>
              <td>{m.task}</td>
              <td>{m.runtime}</td>
              <td>{m.license}</td>
              <td>{bytes(m.size)}</td>
              <td>{m.provider ?? "not loaded"}</td>
              <td>{[m.builtin ? "built-in" : "", m.pinned ? "pinned" : ""].filter(Boolean).join(", ")}</td>
            </tr>
          ))}
        </Table>
      )}
      <h2>Install a model pack</h2>
      <p>A tar of manifest.json and the files it lists; a wrong checksum, manifest or licence is refused.</p>
      <input
        type="file"
        aria-label="Model pack file"
        disabled={progress !== null}
        onChange={(e) => {
          const f = (e.currentTarget as HTMLInputElement).files?.[0];
          if (f) void install(f);
        }}
      />
      {progress && <p role="status">{progress}</p>}
    </section>
  );
}
