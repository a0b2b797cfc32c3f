/** Small shared pieces: labelled fields, notices, buttons that show progress, tabs, a chart, a table. */
import type { ComponentChildren, JSX } from "preact";
import { useId, useState } from "preact/hooks";
import { messageOf } from "./api";

export function Field(props: {
  label: string;
  value: string;
  onInput: (v: string) => void;
  type?: string;
  autocomplete?: string;
  required?: boolean;
  minLength?: number;
  placeholder?: string;
  hint?: string;
  inputMode?: "numeric" | "text";
  name?: string;
}) {
  const id = useId();
  const hintId = props.hint ? `${id}-hint` : undefined;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type={props.type ?? "text"}
        value={props.value}
        autocomplete={props.autocomplete}
        required={props.required}
        minLength={props.minLength}
        placeholder={props.placeholder}
        inputMode={props.inputMode}
        aria-describedby={hintId}
        onInput={(e) => props.onInput((e.target as HTMLInputElement).value)}
      />
      {props.hint && (
        <p class="hint" id={hintId}>
          {props.hint}
        </p>
      )}
    </div>
  );
}

export function Select(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: { value: string; label: string }[];
}) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <select
        id={id}
        value={props.value}
        onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}
      >
        {props.options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </div>
  );
}

export type Tone = "ok" | "error" | "info" | "warning";

/** A message for the user; errors are announced at once (role=alert), the rest politely. */
export function Notice({ tone, children }: { tone: Tone; children: ComponentChildren }) {
  return (
    <div class={`notice ${tone}`} role={tone === "error" ? "alert" : "status"}>
      {children}
    </div>
  );
}

/** The outcome of the last action on a page: a message that screen readers hear. */
export function useOutcome() {
  const [outcome, setOutcome] = useState<{ tone: Tone; text: string } | null>(null);
  const view = outcome ? <Notice tone={outcome.tone}>{outcome.text}</Notice> : null;
  /** Runs `fn`, shows `ok` (or what it returns) on success and the error message on failure. */
  const run = async <T,>(fn: () => Promise<T>, ok?: string | ((r: T) => string)): Promise<T | undefined> => {
    try {
      const r = await fn();
      if (ok) setOutcome({ tone: "ok", text: typeof ok === "function" ? ok(r) : ok });
      return r;
    } catch (err) {
      setOutcome({ tone: "error", text: messageOf(err) });
      return undefined;
    }
  };
  return { view, run, set: setOutcome };
}

/** A button that is disabled while its action runs. */
export function Action(props: {
  onClick: () => unknown;
  children: ComponentChildren;
  kind?: "primary" | "danger" | "plain";
  label?: string;
  disabled?: boolean;
  title?: string;
}) {
  const [busy, setBusy] = useState(false);
  return (
    <button
      type="button"
      class={`btn ${props.kind ?? "plain"}`}
      aria-label={props.label}
      title={props.title}
      disabled={busy || props.disabled}
      aria-busy={busy}
      onClick={async () => {
        setBusy(true);
        try {
          await props.onClick();
        } finally {
          setBusy(false);
        }
      }}
    >
      {props.children}
    </button>
  );
}

/** A form whose submit runs `onSubmit` once at a time. */
export function Form(props: {
  onSubmit: () => Promise<unknown>;
  children: ComponentChildren;
  submit: string;
  label?: string;
  class?: string;
}) {
  const [busy, setBusy] = useState(false);
  const submit = async (e: JSX.TargetedEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    try {
      await props.onSubmit();
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class={props.class ?? "form"} onSubmit={submit} aria-label={props.label}>
      {props.children}
      <button type="submit" class="btn primary" disabled={busy} aria-busy={busy}>
        {props.submit}
      </button>
    </form>
  );
}

export function Tabs(props: { tabs: { href: string; label: string }[]; active: string; label: string }) {
  return (
    <nav class="tabs" aria-label={props.label}>
      {props.tabs.map((t) => (
        <a key={t.href} href={t.href} aria-current={t.href === props.active ? "page" : undefined}>
          {t.label}
        </a>
      ))}
    </nav>
  );
}

/**
 * A line chart of values from 0 to `max` (100: percentages), with its latest value spelled out for screen
 * readers.
 */
export function Spark(props: { values: (number | null)[]; label: string; max?: number }) {
  const w = 240;
  const h = 48;
  const max = props.max && props.max > 0 ? props.max : 100;
  // 1 px inside the box, so that a line at 0 (or 100 %) is not cut in half by the edge.
  const pts = props.values
    .map((v, i) =>
      v === null ? null : [(i / Math.max(1, props.values.length - 1)) * w, h - 1 - (v / max) * (h - 2)],
    )
    .filter((p): p is number[] => p !== null);
  const d = pts.map((p, i) => `${i ? "L" : "M"}${p[0]!.toFixed(1)},${p[1]!.toFixed(1)}`).join("");
  return (
    <svg
      class="spark"
      viewBox={`0 0 ${w} ${h}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={props.label}
    >
      <path class="grid" d={`M0,${h / 2}H${w}`} />
      {d && <path class="line" d={d} />}
    </svg>
  );
}

/** A 0–100 gauge; browsers colour it by the low/high marks (over 80 % and 90 % used). */
export function Meter({ value, label }: { value: number; label: string }) {
  return (
    <meter class="meter" aria-label={label} min={0} max={100} low={80} high={90} optimum={0} value={value} />
  );
}

export function StateBadge({ state }: { state: string }) {
  const tone = state === "running" ? "ok" : ["crashloop", "failed", "exited"].includes(state) ? "bad" : "mid";
  return <span class={`badge ${tone}`}>{state}</span>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** A table with a header row; `caption` is for screen readers. */
export function Table(props: { columns: string[]; caption?: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap">
      <table>
        {props.caption && <caption class="sr-only">{props.caption}</caption>}
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col" key={c}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}
