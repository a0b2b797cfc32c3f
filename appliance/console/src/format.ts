/** Display helpers: sizes and durations (the CLI's own), times, log lines. */
import { prettyLogLine } from "../../lib/format";

export { bytes, duration, nextTry } from "../../lib/format";

export function when(iso: string | null | undefined): string {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** A log line as the CLI prints it (`time LEVEL [service] msg k=v`), and its level for colouring. */
export function logLine(line: string): { text: string; level: string } {
  const text = prettyLogLine(line);
  const level = /^\S* (TRACE|DEBUG|INFO|WARN|ERROR|FATAL)/.exec(text)?.[1]?.toLowerCase() ?? "info";
  return { text, level };
}
