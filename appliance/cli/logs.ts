/** `nexus logs <name> [-f]`: prints a unit's log file, optionally following it (also across rotations). */
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { dataPaths } from "../paths.js";
import { prettyLogLine } from "./format.js";

const NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** The log file for a service (its own unit, or the shared `services` unit), `supervisor` or `nats`. */
export function logFileFor(dataDir: string, name: string): string {
  if (!NAME.test(name)) throw new Error(`invalid name: ${name}`);
  const paths = dataPaths(dataDir);
  const own = paths.logFile(name);
  if (existsSync(own)) return own;
  const shared = paths.logFile("services");
  if (existsSync(shared) && readFileSync(shared, "utf8").includes(`"service":"${name}"`)) return shared;
  throw new Error(`no log for ${name} in ${paths.logs}`);
}

export async function showLogs(
  dataDir: string,
  name: string,
  opts: { follow: boolean; lines: number; raw: boolean; signal?: AbortSignal },
): Promise<void> {
  const file = logFileFor(dataDir, name);
  const sharedFile = file.endsWith("/services.log") && name !== "services";
  const keep = (l: string) => !sharedFile || !l.startsWith("{") || l.includes(`"service":"${name}"`);
  const out = (l: string) => process.stdout.write(`${opts.raw ? l : prettyLogLine(l)}\n`);
  const text = readFileSync(file, "utf8");
  const lines = text.split("\n").filter((l) => l && keep(l));
  for (const l of lines.slice(-opts.lines)) out(l);
  if (!opts.follow) return;
  let pos = Buffer.byteLength(text);
  let partial = "";
  while (!opts.signal?.aborted) {
    await sleep(250);
    const size = statSync(file).size;
    if (size < pos) pos = 0; // rotated (copy-truncate)
    if (size === pos) continue;
    const chunk = await readRange(file, pos, size);
    pos = size;
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    for (const l of parts) if (l && keep(l)) out(l);
  }
}

function readRange(file: string, start: number, end: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = "";
    createReadStream(file, { start, end: end - 1, encoding: "utf8" })
      .on("data", (c) => {
        s += c;
      })
      .on("end", () => resolve(s))
      .on("error", reject);
  });
}
