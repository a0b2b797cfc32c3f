/**
 * Where an installed appliance lives, under a root (`/` on a box, a temp dir in tests and image builds):
 * /opt/nexus/<version> (one folder per version) and /opt/nexus/current (a link to one of them),
 * /etc/nexus/nexus.env, /var/lib/nexus (data), /var/log/nexus, and the upgrade marker /opt/nexus/upgrade.json.
 */
import { cpSync, existsSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { packageRoot } from "../paths.js";

export type Layout = ReturnType<typeof installLayout>;

/** The installed appliance's paths under `root`. */
export function installLayout(root = "/") {
  const r = resolve(root);
  const opt = join(r, "opt/nexus");
  return {
    root: r,
    opt,
    version: (v: string) => join(opt, v),
    current: join(opt, "current"),
    marker: join(opt, "upgrade.json"),
    etc: join(r, "etc/nexus"),
    envFile: join(r, "etc/nexus/nexus.env"),
    dataDir: join(r, "var/lib/nexus"),
    logDir: join(r, "var/log/nexus"),
    binLink: join(r, "usr/local/bin/nexus"),
    unitDir: join(r, "etc/systemd/system"),
  };
}

/** The root this code is installed under (`/opt/nexus/<v>/app` → `/`), or null when run from a checkout. */
export function installedRoot(pkgRoot = packageRoot()): string | null {
  const m = /^(.*)\/opt\/nexus\/[^/]+\/app$/.exec(pkgRoot);
  return m ? m[1] || "/" : null;
}

/** The version `current` points at; null before the first install. */
export function currentVersion(l: Layout): string | null {
  try {
    return basename(readlinkSync(l.current));
  } catch {
    return null;
  }
}

/** Points `current` at `version` atomically (a new link renamed over the old one). */
export function switchCurrent(l: Layout, version: string): void {
  const tmp = `${l.current}.new`;
  rmSync(tmp, { force: true });
  symlinkSync(version, tmp);
  renameSync(tmp, l.current);
}

/**
 * Copies a verified bundle dir to /opt/nexus/<version> (through a temp name, so a cut copy is never used).
 * `move`: the dir is the upgrader's own unpacked copy under /opt/nexus/.incoming (same filesystem): renamed
 * into place instead, saving a second copy of the whole bundle.
 */
export function installBeside(l: Layout, bundleDir: string, version: string, move = false): string {
  const dest = l.version(version);
  if (resolve(bundleDir) === dest) return dest;
  const tmp = `${dest}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  if (move) renameSync(bundleDir, tmp);
  // Times kept: bin/nexus.js runs dist/bundle only while no file it was built from is newer than its list.
  else cpSync(bundleDir, tmp, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  rmSync(dest, { recursive: true, force: true });
  renameSync(tmp, dest);
  return dest;
}

/** Reads KEY=VALUE lines of nexus.env (the systemd EnvironmentFile, also sourced by the launcher). */
export function readEnvFile(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1] as string] = (m[2] as string).replace(/^"(.*)"$/, "$1");
  }
  return out;
}

/** The data dir the installed box uses (nexus.env's NEXUS_DATA_DIR, else /var/lib/nexus under the root). */
export function installedDataDir(l: Layout): string {
  return readEnvFile(l.envFile).NEXUS_DATA_DIR ?? l.dataDir;
}

/** The folder of a version's trusted public keys. */
export function trustedKeysDir(versionDir: string): string {
  return join(versionDir, "app", "trusted-keys");
}

/** The parent of `current`'s target, for messages. */
export const describeInstall = (l: Layout) =>
  `${dirname(l.current)} (current: ${currentVersion(l) ?? "none"})`;
