/** `nexus logs <name> [-f]`: prints a unit's log file, optionally following it (also across rotations). */

import { prettyLogLine } from "../lib/format.js";
import { dataPaths } from "../paths.js";
import { followLog, logSource, tailLog } from "../supervisor/log-files.js";

export async function showLogs(
  dataDir: string,
  name: string,
  opts: { follow: boolean; lines: number; raw: boolean; signal?: AbortSignal },
): Promise<void> {
  const src = logSource(dataPaths(dataDir).logs, name);
  const out = (l: string) => process.stdout.write(`${opts.raw ? l : prettyLogLine(l)}\n`);
  const { lines, end } = tailLog(src, opts.lines);
  for (const l of lines) out(l);
  if (!opts.follow) return;
  await followLog(src, end, (batch) => batch.forEach(out), opts.signal ?? new AbortController().signal);
}
