/**
 * Sync with the hub: enrolment (or how to enrol), the link, the changes waiting for the hub's acknowledgement
 * (with a live chart), the last acknowledgement, the lag, and the same per service. Live over the shared
 * status stream, which carries the sync status.
 */
import { duration, when } from "../format";
import { useLiveStatus } from "../live";
import type { SyncStatus } from "../types";
import { Empty, Notice, Spark, Table } from "../ui";

const LINK: Record<SyncStatus["link"], { text: string; tone: string; hint: string }> = {
  up: { text: "up", tone: "ok", hint: "connected to the hub" },
  down: { text: "down", tone: "bad", hint: "changes wait on the box until the hub can be reached again" },
  unknown: {
    text: "unknown",
    tone: "mid",
    hint: "the message bus is not running, so the link cannot be read",
  },
  "not-enrolled": { text: "not enrolled", tone: "mid", hint: "everything stays on this box" },
};

const TLS: Record<NonNullable<SyncStatus["linkTls"]>, string> = {
  "pinned-ca": "Encrypted (TLS), to the hub whose certificate authority this box pinned at enrolment",
  "system-ca": "Encrypted (TLS), verified against this system's certificate authorities",
  none: "Not encrypted: enrol again with a hub that has leafnode TLS",
};

function LinkBadge({ link }: { link: SyncStatus["link"] }) {
  const l = LINK[link];
  return <span class={`badge ${l.tone}`}>{l.text}</span>;
}

export function SyncPage() {
  const { status, history } = useLiveStatus();
  const sync = status?.sync;
  if (!status || !sync) {
    return (
      <section aria-busy="true">
        <h1>Sync</h1>
        <p>{status ? "This box does not report its sync status." : "Reading the sync status…"}</p>
      </section>
    );
  }
  const backlog = history.map((h) => h.backlog);
  const top = Math.max(1, ...backlog.map((b) => b ?? 0));
  const alerts = status.alerts.filter((a) => a.id.startsWith("sync"));
  return (
    <section class="sync" data-ready="true">
      <h1>Sync</h1>
      {sync.enrolled ? (
        <p class="lead">
          Site <strong>{sync.site}</strong> · hub <code>{sync.hubUrl}</code> · link{" "}
          <LinkBadge link={sync.link} />
        </p>
      ) : (
        <section class="card wide" aria-labelledby="enrol-title">
          <h2 id="enrol-title">Not enrolled</h2>
          <p>
            This box is not enrolled with a hub: everything it stores stays on it. To sync site{" "}
            <strong>{status.site}</strong> with a hub, get a one-time token from the hub's administrator (
            <code>nexus hub token {status.site}</code> on the hub), then run on this box (enrolment changes
            the site id, so the appliance is stopped for it):
          </p>
          <pre>
            <code>
              nexus stop{"\n"}nexus enroll &lt;hub-url&gt; &lt;token&gt;{"\n"}nexus up
            </code>
          </pre>
          <p>What was stored before the enrolment is sent to the hub once the box is enrolled.</p>
        </section>
      )}

      <section aria-labelledby="sync-alerts-title" aria-live="polite">
        <h2 id="sync-alerts-title" class="sr-only">
          Sync alerts
        </h2>
        {alerts.length > 0 && (
          <ul class="alerts">
            {alerts.map((a) => (
              <li key={a.id} class={a.level}>
                <strong>{a.level === "critical" ? "Critical" : "Warning"}:</strong> {a.message}
              </li>
            ))}
          </ul>
        )}
      </section>

      <div class="cards resources">
        <article class="card" aria-labelledby="sync-link-title">
          <h3 id="sync-link-title">Link</h3>
          <p class="big">
            <LinkBadge link={sync.link} />
          </p>
          <p class="small">{LINK[sync.link].hint}</p>
          {sync.linkTls && <p class="small">{TLS[sync.linkTls]}</p>}
        </article>
        <article class="card" aria-labelledby="sync-backlog-title">
          <h3 id="sync-backlog-title">Backlog</h3>
          <p class="big">{sync.backlog}</p>
          <p class="small">changes waiting for the hub's acknowledgement</p>
          <Spark
            values={backlog}
            max={top}
            label={`Changes waiting over the last readings, now ${sync.backlog} (chart scale 0 to ${top})`}
          />
        </article>
        <article class="card" aria-labelledby="sync-ack-title">
          <h3 id="sync-ack-title">Last acknowledgement</h3>
          <p class="big small-big">{sync.lastAckAt ? when(sync.lastAckAt) : "never"}</p>
          <p class="small">when the hub last confirmed it applied changes from this box</p>
        </article>
        <article class="card" aria-labelledby="sync-lag-title">
          <h3 id="sync-lag-title">Lag</h3>
          <p class="big">{duration(sync.lagSeconds)}</p>
          <p class="small">age of the oldest change still waiting</p>
        </article>
      </div>

      <h2 id="sync-services-title">Per service</h2>
      {sync.services.length === 0 ? (
        <Empty>No service on this box records changes for the hub yet.</Empty>
      ) : (
        <Table
          columns={[
            "Service",
            "Waiting",
            "Not yet published",
            "Oldest waiting",
            "Acknowledged up to",
            "Acknowledged at",
          ]}
          caption="Changes waiting for the hub, per service"
        >
          {sync.services.map((s) => (
            <tr key={s.service} data-sync-service={s.service}>
              <th scope="row">{s.service}</th>
              <td>{s.pending}</td>
              <td>{s.unpublished}</td>
              <td>{when(s.oldestPendingAt)}</td>
              <td>{s.ackedSeq}</td>
              <td>{when(s.ackedAt)}</td>
            </tr>
          ))}
        </Table>
      )}
      {sync.enrolled && sync.link === "down" && sync.backlog > 0 && (
        <Notice tone="warning">
          The link to the hub is down: the {sync.backlog} waiting change(s) stay safely on this box and go to
          the hub when it can be reached again.
        </Notice>
      )}
    </section>
  );
}
