/**
 * The installer's before-upgrade snapshot: every service database, config.json and secrets/ copied into
 * `<data>/backups/upgrade/<id>/` (same disk, no encryption; blobs are never touched by migrations, so they
 * are not copied). Layout of a snapshot = layout of a data dir, plus `snapshot.json` (written last: a
 * snapshot without it is a leftover of an interrupted take and is never restored).
 */
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { applyStaged, fileSha256, filesUnder, writeJsonDurably } from "./apply.js";
import { copyDatabases, serviceDatabases } from "./databases.js";
import { fsyncDir, renameDurably } from "./fs-atomic.js";
import type { UpgradeSnapshots } from "./types.js";

const ID = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$/;

interface SnapshotIndex {
  id: string;
  fromVersion: string;
  toVersion: string;
  createdAt: string;
  files: { path: string; sha256: string }[];
}

/** The folder holding the before-upgrade snapshots. */
export function upgradeSnapshotRoot(dataDir: string): string {
  return join(dataDir, "backups", "upgrade");
}

function snapshotDir(dataDir: string, id: string): string {
  if (!ID.test(id)) throw new Error(`not an upgrade snapshot id: ${JSON.stringify(id.slice(0, 80))}`);
  return join(upgradeSnapshotRoot(dataDir), id);
}

/** `20261207T153000Z-1a2b3c4d`: sorts by time, unique. */
export function snapshotId(now = new Date()): string {
  const t = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${t}-${randomBytes(4).toString("hex")}`;
}

/** Copies the databases, config.json and secrets/ of `dataDir` into `dir`, a data-dir-shaped tree. */
export function stageDataDir(dataDir: string, dir: string, opts: { secrets: boolean }) {
  for (const s of serviceDatabases(dataDir))
    mkdirSync(join(dir, "services", s), { recursive: true, mode: 0o700 });
  const result = copyDatabases(dataDir, (s) => join(dir, "services", s, `${s}.db`));
  const config = join(dataDir, "config.json");
  if (existsSync(config)) cpSync(config, join(dir, "config.json"));
  const secrets = join(dataDir, "secrets");
  if (opts.secrets && existsSync(secrets)) cpSync(secrets, join(dir, "secrets"), { recursive: true });
  return result;
}

export const upgradeSnapshots: UpgradeSnapshots = {
  async take({ dataDir, fromVersion, toVersion }) {
    const id = snapshotId();
    const root = upgradeSnapshotRoot(dataDir);
    const tmp = join(root, `.${id}.tmp`);
    try {
      stageDataDir(dataDir, join(tmp, "data"), { secrets: true });
      const files = [];
      for (const path of filesUnder(join(tmp, "data"))) {
        files.push({ path, sha256: await fileSha256(join(tmp, "data", path)) });
      }
      const index: SnapshotIndex = { id, fromVersion, toVersion, createdAt: new Date().toISOString(), files };
      await writeJsonDurably(join(tmp, "snapshot.json"), index);
      await renameDurably(tmp, join(root, id));
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    return { id };
  },

  async restore({ dataDir, id }) {
    const dir = snapshotDir(dataDir, id);
    const indexFile = join(dir, "snapshot.json");
    if (!existsSync(indexFile))
      throw new Error(`no complete upgrade snapshot ${id} in ${upgradeSnapshotRoot(dataDir)}`);
    const index = JSON.parse(readFileSync(indexFile, "utf8")) as SnapshotIndex;
    for (const f of index.files) {
      if ((await fileSha256(join(dir, "data", f.path))) !== f.sha256) {
        throw new Error(`upgrade snapshot ${id} is damaged: ${f.path} does not match its sha256`);
      }
    }
    await applyStaged(dataDir, join(dir, "data"), { secrets: true, label: `upgrade snapshot ${id}` });
  },

  async discard({ dataDir, id }) {
    const dir = snapshotDir(dataDir, id);
    const gone = join(upgradeSnapshotRoot(dataDir), `.${id}.discard`);
    if (!existsSync(dir)) return;
    await renameDurably(dir, gone);
    await rm(gone, { recursive: true, force: true });
    await fsyncDir(upgradeSnapshotRoot(dataDir));
  },
};
