/**
 * A local folder or mounted USB disk as a backup destination. Every put goes through a temporary file
 * (`<key>.tmp-<random>`), fsync, rename and directory fsync, so a kill -9 or a full disk never leaves a
 * partial object under its key; a full disk removes the temporary file and throws
 * BackupDestinationFullError. Temporary files are invisible to `list`, which removes those over an hour old.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, type Dirent } from "node:fs";
import { mkdir, readdir, rm, rmdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { IO_CHUNK, writeAtomic } from "./fs-atomic.js";
import { type BackupDestination, BackupDestinationFullError, BackupPartMissingError } from "./types.js";

const KEY = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;
const TMP = /\.tmp-[0-9a-f]{12}$/;

function checkKey(key: string): void {
  if (!KEY.test(key) || key.split("/").some((s) => s === "." || s === "..") || TMP.test(key)) {
    throw new TypeError(`not a backup key: ${JSON.stringify(key.slice(0, 100))}`);
  }
}

function isFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOSPC" || code === "EDQUOT";
}

/** A folder destination rooted at `dir` (created on the first write). */
export function folderDestination(dir: string): BackupDestination {
  const root = resolve(dir);
  const pathOf = (key: string) => {
    checkKey(key);
    return join(root, ...key.split("/"));
  };
  return {
    kind: "folder",
    description: `folder ${root}`,
    async put(key, body) {
      const file = pathOf(key);
      const tmp = `${file}.tmp-${randomBytes(6).toString("hex")}`;
      try {
        await mkdir(dirname(file), { recursive: true, mode: 0o700 });
        await writeAtomic(file, tmp, body);
      } catch (err) {
        await rm(tmp, { force: true });
        if (isFull(err)) throw new BackupDestinationFullError(`folder ${root}`);
        throw err;
      }
    },
    async get(key) {
      const file = pathOf(key);
      const s = createReadStream(file, { highWaterMark: IO_CHUNK });
      await new Promise<void>((ok, fail) => {
        s.once("open", () => ok());
        s.once("error", (err: NodeJS.ErrnoException) =>
          fail(err.code === "ENOENT" ? new BackupPartMissingError(key) : err),
        );
      });
      return s;
    },
    async has(key) {
      const file = pathOf(key);
      try {
        return (await stat(file)).isFile();
      } catch {
        return false;
      }
    },
    async list(prefix) {
      const out: string[] = [];
      const walk = async (d: string, rel: string) => {
        let entries: Dirent[];
        try {
          entries = await readdir(d, { withFileTypes: true });
        } catch {
          return;
        }
        for (const e of entries) {
          const k = rel ? `${rel}/${e.name}` : e.name;
          if (e.isDirectory()) await walk(join(d, e.name), k);
          else if (TMP.test(e.name)) await removeIfStale(join(d, e.name));
          else if (e.isFile() && k.startsWith(prefix)) out.push(k);
        }
      };
      // Start at the prefix's folder: listing snapshots/ never walks blobs/.
      const base = prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "";
      if (base) checkKey(base);
      await walk(base ? join(root, ...base.split("/")) : root, base);
      return out;
    },
    async remove(key) {
      const file = pathOf(key);
      await rm(file, { force: true });
      // Drop folders left empty (a removed snapshot's parts/), never the root.
      for (let d = dirname(file); d.startsWith(`${root}/`); d = dirname(d)) {
        try {
          await rmdir(d);
        } catch {
          break;
        }
      }
    },
  };
}

/** A temporary file this old is the leftover of a killed run (a live put renews its mtime as it writes). */
const STALE_TMP_MS = 60 * 60 * 1000;

async function removeIfStale(file: string): Promise<void> {
  try {
    if (Date.now() - (await stat(file)).mtimeMs > STALE_TMP_MS) await rm(file, { force: true });
  } catch {
    // gone already
  }
}
