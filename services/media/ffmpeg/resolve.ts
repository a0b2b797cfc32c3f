/**
 * Which ffmpeg and ffprobe the box runs: `NEXUS_FFMPEG`/`NEXUS_FFPROBE`, else the bundle's copy (next to the
 * appliance, `NEXUS_BUNDLE_BIN`), else the system's (`PATH`), else the binaries the npm packages
 * `@ffmpeg-installer/ffmpeg` and `@ffprobe-installer/ffprobe` ship (no download at install or run time).
 */
import { accessSync, constants, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, join } from "node:path";

export interface Binaries {
  ffmpeg: string;
  ffprobe: string;
  /** Where each came from, for `nexus doctor` and the job record. */
  source: { ffmpeg: BinarySource; ffprobe: BinarySource };
}

export type BinarySource = "env" | "bundle" | "system" | "npm";

const require = createRequire(import.meta.url);

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first `name` on PATH that is executable, or null. */
export function onPath(name: string, path = process.env.PATH ?? ""): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    if (executable(file)) return file;
  }
  return null;
}

function fromNpm(pkg: string): string | null {
  try {
    const mod = require(pkg) as { path?: string };
    return mod.path && existsSync(mod.path) ? mod.path : null;
  } catch {
    return null;
  }
}

function resolveOne(
  name: "ffmpeg" | "ffprobe",
  env: NodeJS.ProcessEnv,
): { file: string; source: BinarySource } | null {
  const override = env[name === "ffmpeg" ? "NEXUS_FFMPEG" : "NEXUS_FFPROBE"];
  if (override) return { file: override, source: "env" };
  const bundled = env.NEXUS_BUNDLE_BIN ? join(env.NEXUS_BUNDLE_BIN, name) : null;
  if (bundled && executable(bundled)) return { file: bundled, source: "bundle" };
  const system = onPath(name, env.PATH);
  if (system) return { file: system, source: "system" };
  const npm = fromNpm(name === "ffmpeg" ? "@ffmpeg-installer/ffmpeg" : "@ffprobe-installer/ffprobe");
  return npm ? { file: npm, source: "npm" } : null;
}

/** Resolves both binaries; throws a readable error naming what to install when one is missing. */
export function resolveBinaries(env: NodeJS.ProcessEnv = process.env): Binaries {
  const ffmpeg = resolveOne("ffmpeg", env);
  const ffprobe = resolveOne("ffprobe", env);
  if (!ffmpeg || !ffprobe) {
    throw new Error(
      `no ${!ffmpeg ? "ffmpeg" : "ffprobe"} found: set NEXUS_FFMPEG/NEXUS_FFPROBE, install ffmpeg (apt-get install ffmpeg) or the npm packages @ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe`,
    );
  }
  return {
    ffmpeg: ffmpeg.file,
    ffprobe: ffprobe.file,
    source: { ffmpeg: ffmpeg.source, ffprobe: ffprobe.source },
  };
}
