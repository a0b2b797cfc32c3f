/** Text helpers for the CLI and the console: tables, sizes, durations, a progress bar, readable log lines. */

/** Renders rows as a left-aligned table with a header. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "-";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "-";
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d}d${h}h`;
  if (h) return `${h}h${m}m`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

/** An ISO time as local `HH:MM:SS` (a retry minutes away needs no date), or "-". */
export function clockTime(iso: string | null | undefined): string {
  const t = iso ? new Date(iso) : null;
  if (!t || Number.isNaN(t.getTime())) return "-";
  return [t.getHours(), t.getMinutes(), t.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

/** "crash loop — next try at 14:03:07" (local time) for a service waiting to be retried, else null. */
export function nextTry(s: { state: string; nextAttemptAt: string | null }): string | null {
  if (!s.nextAttemptAt) return null;
  const label = s.state === "crashloop" ? "crash loop" : "restarting";
  return `${label} — next try at ${clockTime(s.nextAttemptAt)}`;
}

/** `[#####-----] 3/6 label` */
export function progressBar(done: number, total: number, label: string, width = 20): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${label}`;
}

const LEVELS: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};

/** nats-server's own text format: `[pid] 2026/12/07 10:00:01.123456 [INF] msg` (2.9 writes no JSON). */
const NATS_LINE = /^\[\d+\] \d{4}\/\d\d\/\d\d (\d\d:\d\d:\d\d\.\d{3})\d* \[([A-Z]{3})\] (.*)$/;
const NATS_LEVELS: Record<string, string> = {
  TRC: "TRACE",
  DBG: "DEBUG",
  INF: "INFO",
  WRN: "WARN",
  ERR: "ERROR",
  FTL: "FATAL",
};

/**
 * Turns a pino JSON line into `time LEVEL [service] msg k=v …`, and a nats-server line into
 * `time LEVEL [nats] msg`; other lines pass through.
 */
export function prettyLogLine(line: string): string {
  const nats = NATS_LINE.exec(line);
  if (nats) return `${nats[1]} ${(NATS_LEVELS[nats[2]!] ?? nats[2]!).padEnd(5)} [nats] ${nats[3]}`;
  if (!line.startsWith("{")) return line;
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    const { time, level, msg, service, pid: _pid, hostname: _h, name, ...rest } = o;
    const t = typeof time === "string" ? time.slice(11, 23) : "";
    const lv = (LEVELS[level as number] ?? String(level)).padEnd(5);
    const who = service ?? name;
    const extra = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    return `${t} ${lv} ${who ? `[${who}] ` : ""}${msg ?? ""}${extra ? ` ${extra}` : ""}`;
  } catch {
    return line;
  }
}
