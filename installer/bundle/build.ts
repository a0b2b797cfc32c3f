/**
 * `npm run bundle`: builds dist/nexus-<version>-linux-<arch>.tar.gz offline, with progress. Signed with the
 * ed25519 key in the file NEXUS_BUNDLE_SIGNING_KEY (releases) or a dev key generated into
 * .nexus/bundle-dev-key.pem (git-ignored) for local builds.
 *   npm run bundle [-- --no-build] [--profile NAME] [--out DIR] [--gpu-libs DIR]
 * `--gpu-libs DIR` (or NEXUS_BUNDLE_GPU_LIBS): carry onnxruntime's CUDA/TensorRT providers and their libraries
 * (gpu-libs.ts).
 */
import { execFileSync } from "node:child_process";
import type { KeyObject } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { progressBar } from "../../appliance/lib/format.js";
import { loadProfile } from "../../appliance/profiles/load.js";
import { MANIFEST, readManifest, SIGNATURE, sha256File } from "../../appliance/upgrade/manifest.js";
import {
  loadSigningKey,
  signBundle,
  signingTimes,
  writeSignedManifest,
} from "../../appliance/upgrade/signature.js";
import { stageBundle } from "./stage.js";

export const REPO = resolve(import.meta.dirname, "../..");
export const DEV_KEY = join(REPO, ".nexus/bundle-dev-key.pem");
const ARCH: Record<string, string> = { x64: "x86_64", arm64: "aarch64" };

export interface BuiltBundle {
  file: string;
  stageDir: string;
  version: string;
  bytes: number;
  notes: string[];
}

/** The signing key: NEXUS_BUNDLE_SIGNING_KEY's file, or the local dev key (created on first use). */
export function signingKey(): KeyObject {
  const file = process.env.NEXUS_BUNDLE_SIGNING_KEY;
  return file ? loadSigningKey(file) : loadSigningKey(DEV_KEY, true);
}

const validityDays = () => Number(process.env.NEXUS_BUNDLE_VALIDITY_DAYS ?? 365);

/** Hashes and signs a staged folder; `buildTime` defaults to now. */
export async function signStaged(
  dir: string,
  version: string,
  key: KeyObject,
  buildTime?: string,
  print = false,
) {
  return signBundle(
    dir,
    { version, arch: ARCH[process.arch] ?? process.arch, buildTime: buildTime ?? new Date().toISOString() },
    key,
    {
      validityDays: validityDays(),
      onFile: (n, t) => {
        if (print && (n % 500 === 0 || n === t))
          process.stdout.write(`\r  ${progressBar(n, t, "files hashed")}`);
        if (print && n === t) process.stdout.write("\n");
      },
    },
  );
}

/** Packs a staged folder into `out` (tar + gzip, the folder as its single top entry); `fast`: gzip -1 (tests). */
export function pack(stageDir: string, out: string, fast = false): number {
  const parent = resolve(stageDir, "..");
  const name = stageDir.slice(parent.length + 1);
  const gzip = fast ? ["--use-compress-program=gzip -1", "-cf"] : ["-czf"];
  execFileSync("tar", [...gzip, out, "-C", parent, "--owner=0", "--group=0", name]);
  return statSync(out).size;
}

/**
 * A copy of a staged bundle as another version, for tests and benchmarks: hard links (cheap), the version and
 * the `edits` (bundle-relative path → new text) written as new files, only those re-hashed, signed again.
 */
export async function restage(
  fromDir: string,
  toDir: string,
  version: string,
  key: KeyObject,
  edits: Record<string, (text: string) => string> = {},
) {
  rmSync(toDir, { recursive: true, force: true });
  execFileSync("cp", ["-al", fromDir, toDir]);
  const all = {
    ...edits,
    "app/package.json": (t: string) => t.replace(/"version": "[^"]*"/, `"version": "${version}"`),
  };
  const m = readManifest(fromDir);
  for (const [rel, edit] of Object.entries(all)) {
    const file = join(toDir, rel);
    const text = edit(readFileSync(file, "utf8"));
    rmSync(file); // break the hard link: the source bundle keeps its file
    writeFileSync(file, text);
    m.files.set(`./${rel}`, await sha256File(file));
  }
  const signed = { ...m, version, ...signingTimes(validityDays()) };
  for (const f of [MANIFEST, SIGNATURE]) rmSync(join(toDir, f)); // hard links too
  writeSignedManifest(toDir, signed, key);
  return signed;
}

/** Builds the bundle: staged in .nexus/bundle-stage (or `stageDir`), packed unless `pack: false`. */
export async function buildBundle(
  o: {
    build?: boolean;
    profile?: string;
    outDir?: string;
    quiet?: boolean;
    key?: KeyObject;
    stageDir?: string;
    pack?: boolean;
    /** gzip -1: a bigger file, made several times faster (tests). */
    fastPack?: boolean;
    /** A folder of GPU libraries to carry (gpu-libs.ts). */
    gpuLibs?: string;
  } = {},
): Promise<BuiltBundle> {
  const t0 = performance.now();
  const say = (s: string) => o.quiet || process.stdout.write(`${s}\n`);
  const version = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version as string;
  const arch = ARCH[process.arch] ?? process.arch;
  const steps = 8;
  let n = 0;
  const step = (label: string) =>
    say(`${progressBar(++n, steps, label)}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  if (o.build !== false) {
    step("npm run build");
    execFileSync("npm", ["run", "build", "--silent"], { cwd: REPO, stdio: o.quiet ? "ignore" : "inherit" });
  } else step("npm run build skipped (--no-build)");
  const profile = loadProfile(o.profile ?? "generic-x86_64");
  const key = o.key ?? signingKey();
  const stageDir = o.stageDir ?? join(REPO, ".nexus/bundle-stage", `nexus-${version}`);
  const ffmpeg = profile.ffmpeg.source ?? "system";
  const gpuLibs = o.gpuLibs ?? (process.env.NEXUS_BUNDLE_GPU_LIBS || undefined);
  const notes = stageBundle({ repo: REPO, dir: stageDir, version, ffmpeg, signingKey: key, step, gpuLibs });
  step("manifest (sha256 of every file) and ed25519 signature");
  await signStaged(stageDir, version, key, undefined, !o.quiet);
  step(o.pack === false ? "tar.gz skipped" : "tar.gz");
  const outDir = o.outDir ?? join(REPO, "dist");
  const file = join(outDir, `nexus-${version}-linux-${arch}.tar.gz`);
  let bytes = 0;
  if (o.pack !== false) {
    mkdirSync(outDir, { recursive: true });
    bytes = pack(stageDir, file, o.fastPack);
  }
  for (const x of notes) say(`  ${x}`);
  say(`${file}: ${(bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { file, stageDir, version, bytes, notes };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  await buildBundle({
    build: !args.includes("--no-build"),
    profile: opt("--profile"),
    outDir: opt("--out"),
    gpuLibs: opt("--gpu-libs"),
  });
}
