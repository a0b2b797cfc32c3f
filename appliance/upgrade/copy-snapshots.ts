/**
 * A plain-copy UpgradeSnapshots: the stopped data dir copied beside it (<data>.upgrade-snapshots/<id>).
 * The upgrade uses the backup engine's `upgradeSnapshots` when it is there; this one stands in until the
 * engine lands, and is correct because the upgrade takes its snapshot with the box stopped.
 */

import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { UpgradeSnapshots } from "../backup/types.js";

/** `cp -a`: keeps owners and modes (the data belongs to the nexus user; the upgrade runs as root). */
function cpA(from: string, to: string): void {
  const r = spawnSync("cp", ["-a", from, to], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`cp -a ${from} ${to}: ${r.stderr || r.error?.message}`);
}

const home = (dataDir: string) => join(dirname(dataDir), `${basename(dataDir)}.upgrade-snapshots`);

export const copySnapshots: UpgradeSnapshots = {
  async take({ dataDir, fromVersion, toVersion }) {
    const id = `${fromVersion}-to-${toVersion}-${randomUUID().slice(0, 8)}`;
    const dir = join(home(dataDir), id);
    mkdirSync(home(dataDir), { recursive: true });
    cpA(dataDir, `${dir}.partial`);
    renameSync(`${dir}.partial`, dir);
    return { id };
  },
  async restore({ dataDir, id }) {
    const dir = join(home(dataDir), id);
    if (!existsSync(dir)) throw new Error(`no upgrade snapshot ${id}`);
    for (const e of readdirSync(dataDir)) rmSync(join(dataDir, e), { recursive: true, force: true });
    for (const e of readdirSync(dir)) cpA(join(dir, e), join(dataDir, e));
  },
  async discard({ dataDir, id }) {
    rmSync(join(home(dataDir), id), { recursive: true, force: true });
  },
};
