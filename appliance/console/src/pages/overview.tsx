/** The box at a glance: alerts, live CPU / memory / disk / GPU charts, a card per service. Live over SSE. */
import { bytes, duration, nextTry } from "../format";
import { useLiveStatus } from "../live";
import { Meter, Notice, Spark, StateBadge } from "../ui";

export function OverviewPage() {
  const { status, history } = useLiveStatus();
  if (!status) {
    return (
      <section aria-busy="true">
        <h1>Overview</h1>
        <p>Reading the box's status…</p>
      </section>
    );
  }
  const { box } = status;
  return (
    <section class="overview" data-ready="true">
      <h1>Overview</h1>
      <p class="lead">
        Site <strong>{status.site}</strong> · version {status.version} · up {duration(status.uptimeSeconds)} ·
        message bus <StateBadge state={status.nats.state} />
      </p>
      {status.lastUpgrade?.outcome === "rolled-back" && (
        <Notice tone="warning">
          The upgrade {status.lastUpgrade.from} → {status.lastUpgrade.to} was rolled back (
          {status.lastUpgrade.at}): {status.lastUpgrade.reason}
        </Notice>
      )}

      <section aria-labelledby="alerts-title" aria-live="polite">
        <h2 id="alerts-title">Alerts</h2>
        {status.alerts.length === 0 ? (
          <p class="empty">No alerts.</p>
        ) : (
          <ul class="alerts">
            {status.alerts.map((a) => (
              <li key={a.id} class={a.level}>
                <strong>{a.level === "critical" ? "Critical" : "Warning"}:</strong> {a.message}
              </li>
            ))}
          </ul>
        )}
      </section>

      <h2>Resources</h2>
      <div class="cards resources">
        <article class="card">
          <h3>CPU</h3>
          <p class="big">{box.cpuPercent.toFixed(0)}%</p>
          <p class="small">
            {box.cpus} cores · load {box.loadAverage.map((l) => l.toFixed(2)).join(" ")}
          </p>
          <Spark
            values={history.map((h) => h.cpu)}
            label={`CPU use over the last readings, now ${box.cpuPercent}%`}
          />
        </article>
        <article class="card">
          <h3>Memory</h3>
          <p class="big">{box.memory.usedPercent.toFixed(0)}%</p>
          <p class="small">
            {bytes(box.memory.usedBytes)} of {bytes(box.memory.totalBytes)}
          </p>
          <Spark
            values={history.map((h) => h.memory)}
            label={`Memory use over the last readings, now ${box.memory.usedPercent}%`}
          />
        </article>
        <article class="card">
          <h3>Disk (data)</h3>
          {box.disk ? (
            <>
              <p class="big">{box.disk.usedPercent.toFixed(0)}%</p>
              <p class="small">
                {bytes(box.disk.availableBytes)} free of {bytes(box.disk.totalBytes)}
              </p>
              <Meter value={box.disk.usedPercent} label="Data disk used" />
            </>
          ) : (
            <p class="empty">Not readable.</p>
          )}
        </article>
        <article class="card">
          <h3>GPU</h3>
          {box.gpus && box.gpus.length > 0 ? (
            box.gpus.map((g) => (
              <div key={g.index}>
                <p class="big">{g.utilizationPercent ?? "–"}%</p>
                <p class="small">
                  {g.name} · {bytes(g.memoryUsedBytes)} of {bytes(g.memoryTotalBytes)}
                  {g.temperatureC !== null ? ` · ${g.temperatureC} °C` : ""}
                </p>
              </div>
            ))
          ) : (
            <p class="empty">No GPU detected (CPU inference, software encoding).</p>
          )}
          {box.gpus && box.gpus.length > 0 && (
            <Spark values={history.map((h) => h.gpu)} label="GPU use over the last readings" />
          )}
        </article>
      </div>

      <h2>Services</h2>
      <div class="cards services">
        {status.services.map((s) => (
          <article class="card" key={s.name} aria-label={`service ${s.name}`}>
            <h3>
              {s.name} <StateBadge state={s.state} />
            </h3>
            <dl>
              <dt>Uptime</dt>
              <dd>{duration(s.uptimeSeconds)}</dd>
              <dt>Restarts</dt>
              <dd>{s.restarts}</dd>
              <dt>Memory</dt>
              <dd>{bytes(s.memoryBytes)}</dd>
            </dl>
            {nextTry(s) && <p class="small">{nextTry(s)}</p>}
            {s.lastError && s.state !== "running" && <p class="small">Last error: {s.lastError}</p>}
          </article>
        ))}
      </div>
      {status.services.some((s) => s.state === "crashloop") && (
        <Notice tone="warning">
          A service is in crash loop: it is retried with growing pauses (up to 5 minutes by default). Fix the
          cause (see its log on the <a href="#/services">Services</a> page), then restart it to try at once.
        </Notice>
      )}
    </section>
  );
}
