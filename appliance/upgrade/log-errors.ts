/**
 * The last error a service logged, for an upgrade's rollback reason: read from the data dir's logs before the
 * snapshot is restored (the restore puts the old logs back, so the failed version's lines would be lost).
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";

const TAIL = 64 * 1024;

function tail(file: string): string {
  const size = statSync(file).size;
  const fd = openSync(file, "r");
  try {
    const len = Math.min(size, TAIL);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** The newest error-level line (pino level ≥ 50) of the service logs, as "msg: err.message"; null if none. */
export function lastLoggedError(logsDir: string, since: number): string | null {
  if (!existsSync(logsDir)) return null;
  let best: { time: number; text: string } | null = null;
  for (const f of readdirSync(logsDir).filter((x) => x.endsWith(".log") && x !== "supervisor.log")) {
    for (const line of tail(join(logsDir, f)).split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        const j = JSON.parse(line) as {
          level?: number;
          time?: string | number;
          msg?: string;
          err?: { message?: string };
        };
        const time = typeof j.time === "number" ? j.time : Date.parse(String(j.time));
        if ((j.level ?? 0) < 50 || time < since || (best && best.time > time)) continue;
        best = { time, text: [j.msg, j.err?.message].filter(Boolean).join(": ") };
      } catch {
        // a line cut by the log rotation or a crash: skip it
      }
    }
  }
  return best?.text ?? null;
}
