/**
 * Backups: where they go, the last success and the next run, every backup at the destination (size, reason,
 * blobs), "Back up now" with the running job's progress bar, a verify per backup, and an alert when the last
 * backup failed. Polls `GET /api/appliance/backups`: every second while a job runs, every 10 s otherwise.
 * Restoring needs the box stopped, so it is the CLI's; the page says how.
 */
import { useEffect, useState } from "preact/hooks";
import type { BackupsOverview } from "../../../backup/box-backups";
import type { BackupJob } from "../../../backup/jobs";
import { can } from "../access";
import { get, messageOf, post } from "../api";
import { bytes, duration, when } from "../format";
import type { PageProps } from "../main";
import { Action, Empty, Notice, Table, useOutcome } from "../ui";

const API = "/api/appliance/backups";
const PHASE: Record<string, string> = {
  databases: "Copying databases",
  blobs: "Copying files",
  config: "Copying settings",
  upload: "Uploading",
  verify: "Verifying",
  restore: "Reading",
  done: "Finishing",
};

/** The overview, re-read on a timer (fast while a job runs) and on demand. */
function useBackups() {
  const [data, setData] = useState<BackupsOverview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stop = false;
    let timer = 0;
    const again = (ms: number) => {
      if (!stop) timer = window.setTimeout(() => setTick((n) => n + 1), ms);
    };
    get<BackupsOverview>(API).then(
      (d) => {
        if (stop) return;
        setData(d);
        setError(null);
        again(d.running ? 1000 : 10_000);
      },
      (err) => {
        if (stop) return;
        setError(messageOf(err));
        again(10_000);
      },
    );
    return () => {
      stop = true;
      window.clearTimeout(timer);
    };
  }, [tick]);
  return { data, error, refresh: () => setTick((n) => n + 1) };
}

/** Resolves with a job once it has finished. */
async function finished(id: string): Promise<BackupJob> {
  for (;;) {
    const job = await get<BackupJob>(`${API}/jobs/${id}`);
    if (job.state !== "running") return job;
    await new Promise((r) => window.setTimeout(r, 700));
  }
}

function Running({ job }: { job: BackupJob }) {
  const p = job.progress;
  const pct = p && p.bytesTotal > 0 ? Math.min(100, Math.round((p.bytesDone / p.bytesTotal) * 100)) : null;
  const label = job.kind === "backup" ? "Backup" : job.kind === "verify" ? "Verify" : "Job";
  return (
    <div class="progress" data-job={job.id}>
      <label for="backup-progress">
        {label} running: {p ? (PHASE[p.phase] ?? p.phase) : "starting"}
        {p && p.bytesTotal > 0 ? ` · ${bytes(p.bytesDone)} of ${bytes(p.bytesTotal)}` : ""}
      </label>
      <progress
        id="backup-progress"
        max={100}
        value={pct ?? undefined}
        aria-valuetext={pct === null ? "starting" : `${pct}%`}
      />
    </div>
  );
}

/** Whether the last backup failed (and none succeeded since). */
const lastFailed = (d: BackupsOverview) =>
  !!d.lastFailureAt && (!d.lastSuccessAt || Date.parse(d.lastFailureAt) > Date.parse(d.lastSuccessAt));

export function BackupsPage({ me }: PageProps) {
  const { data, error, refresh } = useBackups();
  const outcome = useOutcome();
  const write = can(me.permissions, "appliance:write");
  if (!data) {
    return (
      <section aria-busy={!error}>
        <h1>Backups</h1>
        {error ? <Notice tone="error">{error}</Notice> : <p>Reading the backups…</p>}
      </section>
    );
  }
  const backUpNow = () =>
    outcome.run(async () => {
      const job = await post<BackupJob>(API);
      outcome.set({ tone: "info", text: "Backup started…" });
      refresh();
      const done = await finished(job.id);
      refresh();
      if (done.state === "failed") throw new Error(`The backup failed: ${done.error}`);
      outcome.set({ tone: "ok", text: "Backup done." });
    });
  const verify = (id: string) =>
    outcome.run(async () => {
      const job = await post<BackupJob>(`${API}/${id}/verify`);
      outcome.set({ tone: "info", text: `Verifying ${id}…` });
      refresh();
      const done = await finished(job.id);
      refresh();
      const r = done.result as { ok: boolean; problems?: { part: string; reason: string }[] } | null;
      if (done.state === "failed" || !r) throw new Error(`Verify failed: ${done.error}`);
      if (!r.ok)
        throw new Error(
          `Backup ${id} is damaged: ${r.problems?.map((p) => `${p.part} (${p.reason})`).join(", ")}`,
        );
      outcome.set({ tone: "ok", text: `Backup ${id} is intact: every part matches its signed manifest.` });
    });

  return (
    <section class="backups" data-ready="true">
      <h1>Backups</h1>
      {lastFailed(data) && (
        <ul class="alerts" aria-label="Backup alerts">
          <li class="critical" data-alert="backup">
            <strong>Critical:</strong> the last backup failed ({when(data.lastFailureAt)}): {data.lastError}
          </li>
        </ul>
      )}
      {!data.destination && (
        <Notice tone="warning">
          No backup destination is configured: set <code>backup.destination</code> (a folder,{" "}
          <code>s3://bucket/prefix</code> or <code>hub</code>) and a key in <code>config.json</code>; see
          docs/backup-destinations.md.
        </Notice>
      )}
      <div class="cards resources">
        <article class="card">
          <h3>Destination</h3>
          <p class="small" data-field="destination">
            {data.destination ?? "none"}
          </p>
        </article>
        <article class="card">
          <h3>Last success</h3>
          <p class="big small-big" data-field="last-success">
            {data.lastSuccessAt ? when(data.lastSuccessAt) : "never"}
          </p>
          {data.lastDurationSeconds !== null && (
            <p class="small">took {duration(data.lastDurationSeconds)}</p>
          )}
        </article>
        <article class="card">
          <h3>Next run</h3>
          <p class="big small-big" data-field="next-run">
            {data.nextRunAt ? when(data.nextRunAt) : "not scheduled"}
          </p>
          <p class="small">schedule {data.schedule}</p>
        </article>
        <article class="card">
          <h3>Kept</h3>
          <p class="small">
            last {data.retention.keepLast}, daily {data.retention.keepDaily}, weekly{" "}
            {data.retention.keepWeekly}
          </p>
        </article>
      </div>
      {write && (
        <p>
          <Action kind="primary" onClick={backUpNow} disabled={!data.destination || !!data.running}>
            Back up now
          </Action>
        </p>
      )}
      {data.running && <Running job={data.running} />}
      {outcome.view}
      {data.listError && <Notice tone="error">The destination cannot be read: {data.listError}</Notice>}
      {data.backups.length === 0 ? (
        <Empty>No backup at the destination yet.</Empty>
      ) : (
        <Table
          columns={["Created", "Reason", "Size", "Files copied", "Secrets", ...(write ? ["Actions"] : [])]}
          caption="Backups at the destination, newest first"
        >
          {data.backups.map((b) => (
            <tr key={b.id} data-backup={b.id}>
              <th scope="row" title={b.id}>
                {when(b.createdAt)}
              </th>
              <td>{b.reason}</td>
              <td>{bytes(b.sizeBytes)}</td>
              <td>
                {b.blobsCopied} of {b.blobsReferenced}
              </td>
              <td>{b.secretsIncluded ? "included" : "left out"}</td>
              {write && (
                <td>
                  <Action
                    onClick={() => verify(b.id)}
                    disabled={!!data.running}
                    label={`Verify the backup of ${when(b.createdAt)}`}
                  >
                    Verify
                  </Action>
                </td>
              )}
            </tr>
          ))}
        </Table>
      )}
      <p class="small">
        Restoring replaces the box's data, so it runs with the box stopped: <code>nexus stop</code>, then{" "}
        <code>nexus backup restore &lt;id&gt;</code> (add <code>--dry-run</code> to see what would change
        first).
      </p>
    </section>
  );
}
