/** Services: restart, stop, start each one; its log, live, with a filter; download the log. */
import { useEffect, useRef, useState } from "preact/hooks";
import { can } from "../access";
import { post, stream } from "../api";
import { bytes, duration, logLine, nextTry } from "../format";
import { useLiveStatus } from "../live";
import type { PageProps } from "../main";
import { Action, Field, Select, StateBadge, Table, useOutcome } from "../ui";

/** identity cannot be stopped from the console (it would lock everybody out); the API refuses it too. */
const UNSTOPPABLE = "identity";

export function ServicesPage({ me }: PageProps) {
  const { status } = useLiveStatus();
  const outcome = useOutcome();
  const [pending, setPending] = useState<{ name: string; action: string } | null>(null);
  const write = can(me.permissions, "appliance:write");
  const services = status?.services ?? [];

  // Announce when a restarted or started service is running again.
  useEffect(() => {
    if (!pending) return;
    const s = services.find((x) => x.name === pending.name);
    if (!s) return;
    if (pending.action !== "stop" && s.state === "running") {
      outcome.set({ tone: "ok", text: `${s.name} is running again.` });
      setPending(null);
    } else if (pending.action === "stop" && s.state === "stopped") {
      outcome.set({ tone: "ok", text: `${s.name} is stopped. It stays stopped until you start it.` });
      setPending(null);
    }
  }, [status]);

  const act = (name: string, action: string) =>
    outcome.run(async () => {
      setPending({ name, action });
      outcome.set({
        tone: "info",
        text: `${action === "stop" ? "Stopping" : `${action === "start" ? "Starting" : "Restarting"}`} ${name}…`,
      });
      await post(`/api/appliance/services/${name}/${action}`);
    });

  return (
    <section>
      <h1>Services</h1>
      {!write && (
        <p class="lead">
          You can watch services and read logs; restarting them needs <code>appliance:write</code>.
        </p>
      )}
      <Table
        columns={["Service", "State", "PID", "Uptime", "Restarts", "Memory", ...(write ? ["Actions"] : [])]}
        caption="Services and their state"
      >
        {services.map((s) => (
          <tr key={s.name} data-service={s.name}>
            <th scope="row">{s.name}</th>
            <td>
              <StateBadge state={s.state} />
              {nextTry(s) && <span class="small"> {nextTry(s)}</span>}
            </td>
            <td>{s.pid ?? "–"}</td>
            <td>{duration(s.uptimeSeconds)}</td>
            <td>{s.restarts}</td>
            <td>{bytes(s.memoryBytes)}</td>
            {write && (
              <td class="actions">
                <Action onClick={() => act(s.name, "restart")} label={`Restart ${s.name}`}>
                  Restart
                </Action>
                {s.state === "stopped" || s.state === "crashloop" ? (
                  <Action onClick={() => act(s.name, "start")} label={`Start ${s.name}`}>
                    Start
                  </Action>
                ) : (
                  <Action
                    onClick={() => act(s.name, "stop")}
                    label={`Stop ${s.name}`}
                    kind="danger"
                    disabled={s.name === UNSTOPPABLE}
                    title={
                      s.name === UNSTOPPABLE
                        ? "identity cannot be stopped from the console: nobody could log in"
                        : undefined
                    }
                  >
                    Stop
                  </Action>
                )}
              </td>
            )}
          </tr>
        ))}
      </Table>
      <div aria-live="polite">{outcome.view}</div>
      <LogViewer names={[...services.map((s) => s.name), "nats", "supervisor"]} />
    </section>
  );
}

const MAX_LINES = 1000;

function LogViewer({ names }: { names: string[] }) {
  const [name, setName] = useState(names[0] ?? "nats");
  const [filter, setFilter] = useState("");
  const [applied, setApplied] = useState("");
  const [lines, setLines] = useState<string[]>([]);
  const [paused, setPaused] = useState(false);
  const box = useRef<HTMLDivElement>(null);

  // The filter applies after a short pause in typing, not on every key.
  useEffect(() => {
    const t = window.setTimeout(() => setApplied(filter), 300);
    return () => window.clearTimeout(t);
  }, [filter]);

  useEffect(() => {
    if (paused) return;
    setLines([]);
    const q = new URLSearchParams({ lines: "200", ...(applied ? { filter: applied } : {}) });
    return stream(`/api/appliance/services/${name}/logs/follow?${q}`, {
      lines: (d) => setLines((old) => [...old, ...(d as { lines: string[] }).lines].slice(-MAX_LINES)),
    });
  }, [name, applied, paused]);

  useEffect(() => {
    const el = box.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines]);

  return (
    <section class="logs" aria-labelledby="logs-title">
      <h2 id="logs-title">Logs</h2>
      <div class="toolbar">
        <Select
          label="Service"
          value={name}
          onChange={setName}
          options={names.map((n) => ({ value: n, label: n }))}
        />
        <Field label="Filter (text in the line)" value={filter} onInput={setFilter} name="log-filter" />
        <button type="button" class="btn plain" aria-pressed={paused} onClick={() => setPaused(!paused)}>
          {paused ? "Resume live tail" : "Pause live tail"}
        </button>
        <a class="btn plain" href={`/api/appliance/services/${name}/logs/download`} download>
          Download {name} log
        </a>
      </div>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable log must be reachable by keyboard to scroll it */}
      <div class="logbox" ref={box} tabIndex={0} role="log" aria-label={`${name} log, newest last`}>
        {lines.length === 0 ? (
          <p class="empty">{applied ? "No line matches the filter yet." : "No log lines yet."}</p>
        ) : (
          lines.map((l, i) => {
            const f = logLine(l);
            return (
              <div key={i} class={`line ${f.level}`}>
                {f.text}
              </div>
            );
          })
        )}
      </div>
    </section>
  );
}
