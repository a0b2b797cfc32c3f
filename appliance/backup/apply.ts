/**
 * Puts a staged tree (the layout of a data dir: `services/<name>/<name>.db`, `config.json`, `secrets/…`)
 * into the data dir, and plans what that would change (the dry run).
 *
 * Invariant: a kill -9 mid-apply leaves either the old data (the marker was not yet written) or the marker
 * `restore-incomplete.json` in the data dir, which says which restore to run again; every file is placed with
 * tmp + fsync + rename, and a database's stale -wal/-shm are removed before its new file lands, so SQLite
 * never replays an old WAL onto a restored database. The marker goes last.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readdirSync, statSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { pipeline } from "node:stream/promises";
import { readPid } from "../lib/pidfile.js";
import { dataPaths } from "../paths.js";
import { serviceDatabases } from "./databases.js";
import { fsyncDir, fsyncPath, renameDurably, writeAtomic } from "./fs-atomic.js";
import { INCOMPLETE_MARKER } from "./markers.js";

export { INCOMPLETE_MARKER, incompleteRestore } from "./markers.js";

export interface Change {
  path: string;
  action: "create" | "replace" | "delete";
}

/** Every file under `dir`, as `/`-separated paths relative to it, sorted. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(relative(dir, p).split("\\").join("/"));
    }
  };
  walk(dir);
  return out.sort();
}

/** The files of the data dir a restore manages: service databases, config.json, secrets/ when included. */
function managedFiles(dataDir: string, secrets: boolean): string[] {
  const files = serviceDatabases(dataDir).map((s) => `services/${s}/${s}.db`);
  if (existsSync(join(dataDir, "config.json"))) files.push("config.json");
  if (secrets) files.push(...filesUnder(join(dataDir, "secrets")).map((f) => `secrets/${f}`));
  return files.sort();
}

/** sha256 of a file, streamed. */
export async function fileSha256(file: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(createReadStream(file), h);
  return h.digest("hex");
}

async function sameContent(a: string, b: string): Promise<boolean> {
  if (statSync(a).size !== statSync(b).size) return false;
  return (await fileSha256(a)) === (await fileSha256(b));
}

/** What applying `staged` onto `dataDir` would change. */
export async function planChanges(
  dataDir: string,
  staged: string,
  opts: { secrets: boolean },
): Promise<Change[]> {
  const incoming = filesUnder(staged);
  const changes: Change[] = [];
  for (const f of incoming) {
    const target = join(dataDir, f);
    if (!existsSync(target)) changes.push({ path: f, action: "create" });
    else if (!(await sameContent(join(staged, f), target))) changes.push({ path: f, action: "replace" });
  }
  const keep = new Set(incoming);
  for (const f of managedFiles(dataDir, opts.secrets))
    if (!keep.has(f)) changes.push({ path: f, action: "delete" });
  return changes;
}

/** Throws unless the box on `dataDir` is stopped (its supervisor pid file names no live process). */
export function assertStopped(dataDir: string): void {
  const pid = readPid(dataPaths(dataDir).supervisorPid);
  if (pid) throw new Error(`the appliance is running (supervisor pid ${pid}); stop it first (nexus stop)`);
}

/** Removes a file and, for a database, its -wal and -shm. */
async function removeManaged(file: string): Promise<void> {
  for (const suffix of ["-wal", "-shm", ""]) await rm(file + suffix, { force: true });
}

/** Applies `staged` onto the stopped box's `dataDir` (see the header for the crash guarantees). */
export async function applyStaged(
  dataDir: string,
  staged: string,
  opts: {
    secrets: boolean;
    label: string;
    onFile?: (path: string, bytes: number) => void;
    /** Move the staged files (same filesystem, the staging is not needed afterwards) instead of copying. */
    move?: boolean;
  },
): Promise<Change[]> {
  assertStopped(dataDir);
  const changes = await planChanges(dataDir, staged, opts);
  const marker = join(dataDir, INCOMPLETE_MARKER);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writeAtomic(
    marker,
    `${marker}.tmp`,
    Buffer.from(`${JSON.stringify({ restore: opts.label, startedAt: new Date().toISOString() })}\n`),
  );
  for (const c of changes) {
    const target = join(dataDir, c.path);
    if (c.action === "delete") {
      await removeManaged(target);
      continue;
    }
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    const src = join(staged, c.path);
    const tmp = `${target}.restore-tmp`;
    if (opts.move) {
      // Staged on the same disk (<data>/backups/staging): made durable where it is and moved, not copied.
      await fsyncPath(src, "r+");
      await rename(src, tmp);
    } else await writeAtomic(tmp, `${tmp}.part`, createReadStream(src));
    if (c.path.endsWith(".db")) {
      await rm(`${target}-wal`, { force: true });
      await rm(`${target}-shm`, { force: true });
    }
    await renameDurably(tmp, target);
    opts.onFile?.(c.path, statSync(target).size);
  }
  await rm(marker, { force: true });
  await fsyncDir(dataDir);
  return changes;
}

/** Writes a small file durably (used for snapshot indexes). */
export async function writeJsonDurably(file: string, value: unknown): Promise<void> {
  await writeAtomic(file, `${file}.tmp`, Buffer.from(`${JSON.stringify(value, null, 2)}\n`));
}
