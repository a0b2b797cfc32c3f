/**
 * Staging a bundle folder (nexus-<version>/): Node itself, the compiled code and console, the production
 * node_modules (copied from the checkout's, so it is offline and keeps the native addons already built),
 * nats-server, ffmpeg per the profile, the systemd unit, install.sh and the `nexus` launcher.
 */
import { execFileSync } from "node:child_process";
import type { KeyObject } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";
import { publicKeyPem } from "../../appliance/upgrade/signature.js";
import { GPU_LIB_DIR, stageGpuLibs } from "./gpu-libs.js";
import { keptAtRuntime, pruned, pruneRules } from "./prune.js";

export interface StageOptions {
  repo: string;
  dir: string;
  version: string;
  /** ffmpeg/ffprobe: the Debian ones on the box (`system`), or the npm static builds carried in the bundle. */
  ffmpeg: "system" | "bundled";
  signingKey: KeyObject;
  step: (label: string) => void;
  /** A folder of onnxruntime GPU provider libraries and their CUDA/cuDNN/TensorRT peers to carry (gpu-libs.ts). */
  gpuLibs?: string;
}

/** The production dependency folders (`npm ls --omit=dev`), relative to the repo: node_modules/… */
export function productionPackages(repo: string): string[] {
  const out = execFileSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], {
    cwd: repo,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  return out
    .split("\n")
    .filter((p) => p.includes("/node_modules/"))
    .map((p) => relative(repo, p))
    .sort();
}

/** Every native addon (`*.node`) under a folder. */
export function nativeAddons(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".node")) out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

function which(cmd: string): string | null {
  try {
    return execFileSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
}

function copyApp(o: StageOptions): void {
  const app = join(o.dir, "app");
  const pkg = JSON.parse(readFileSync(join(o.repo, "package.json"), "utf8"));
  const slim = {
    name: pkg.name,
    version: o.version,
    private: true,
    type: "module",
    bin: pkg.bin,
    dependencies: pkg.dependencies,
  };
  mkdirSync(join(app, "bin"), { recursive: true });
  writeFileSync(join(app, "package.json"), `${JSON.stringify(slim, null, 2)}\n`);
  copyFileSync(join(o.repo, "bin/nexus.js"), join(app, "bin/nexus.js"));
  o.step("compiled code and console (dist/)");
  // Times kept: bin/nexus.js runs dist/bundle only while no file it was built from is newer than its list.
  cpSync(join(o.repo, "dist"), join(app, "dist"), {
    recursive: true,
    preserveTimestamps: true,
    filter: (s) => !s.endsWith(".map") && !s.includes("/dist/nexus-"),
  });
  cpSync(join(o.repo, "firmware-profiles"), join(app, "firmware-profiles"), { recursive: true });
  // Model files shipped in the repository (the AI service's built-in packs that are not in an npm package).
  cpSync(join(o.repo, "models"), join(app, "models"), { recursive: true });
  cpSync(join(o.repo, "docs"), join(app, "docs"), { recursive: true });
  const pkgs = productionPackages(o.repo);
  o.step(`production node_modules (${pkgs.length} packages)`);
  const rules = pruneRules(process.platform, process.arch, o.ffmpeg);
  for (const p of pkgs) {
    if (pruned(p, rules)) continue;
    cpSync(join(o.repo, p), join(app, p), {
      recursive: true,
      // nested node_modules are listed by npm ls themselves (only production ones)
      filter: (s) =>
        !pruned(relative(o.repo, s), rules) && !relative(join(o.repo, p), s).includes("node_modules"),
    });
  }
  const lost = keptAtRuntime().filter((f) => !existsSync(join(app, f)));
  if (lost.length) throw new Error(`the bundle lacks files needed at run time: ${lost.join(", ")}`);
  const keys = join(app, "trusted-keys");
  mkdirSync(keys, { recursive: true });
  for (const f of readdirSync(join(o.repo, "installer/trusted-keys")).filter((f) => f.endsWith(".pem"))) {
    copyFileSync(join(o.repo, "installer/trusted-keys", f), join(keys, f));
  }
  writeFileSync(join(keys, "bundle-signer.pem"), publicKeyPem(o.signingKey));
}

function copyTools(o: StageOptions): string[] {
  const bin = join(o.dir, "bin");
  mkdirSync(bin, { recursive: true });
  const notes: string[] = [];
  const nats = which("nats-server");
  if (!nats) throw new Error("nats-server not found (installer/system-deps.sh installs Debian's)");
  copyFileSync(nats, join(bin, "nats-server"));
  chmodSync(join(bin, "nats-server"), 0o755);
  notes.push(`nats-server from ${nats} (Debian's package, a static Go binary)`);
  if (o.ffmpeg === "bundled") {
    for (const tool of ["ffmpeg", "ffprobe"]) {
      const base = join(o.dir, "app/node_modules", `@${tool}-installer`);
      const plat = existsSync(base)
        ? readdirSync(base).find((d) => d.startsWith(`${process.platform}-`))
        : undefined;
      const file = plat ? join(base, plat, tool) : null;
      if (!file || !existsSync(file))
        throw new Error(`profile wants a bundled ${tool}, but @${tool}-installer is not installed`);
      symlinkSync(relative(bin, file), join(bin, tool));
      notes.push(`${tool} from @${tool}-installer/${plat}`);
    }
  } else notes.push("ffmpeg/ffprobe: the box's own (Debian's ffmpeg package), as the profile says");
  return notes;
}

/** Stages the whole bundle folder; returns notes on where the tools came from and the native addons. */
export function stageBundle(o: StageOptions): string[] {
  rmSync(o.dir, { recursive: true, force: true });
  mkdirSync(join(o.dir, "node/bin"), { recursive: true });
  o.step(`Node ${process.version} (${process.execPath})`);
  copyFileSync(process.execPath, join(o.dir, "node/bin/node"));
  chmodSync(join(o.dir, "node/bin/node"), 0o755);
  copyApp(o);
  o.step("nats-server, ffmpeg");
  const notes = copyTools(o);
  o.step("systemd unit, install.sh, launcher");
  mkdirSync(join(o.dir, "systemd"), { recursive: true });
  for (const unit of ["nexus.service", "nexus-hub.service"])
    copyFileSync(join(o.repo, "installer/systemd", unit), join(o.dir, "systemd", unit));
  for (const [from, to] of [
    ["installer/bundle/install.sh", "install.sh"],
    ["installer/bundle/launcher.sh", "nexus"],
  ] as const) {
    copyFileSync(join(o.repo, from), join(o.dir, to));
    chmodSync(join(o.dir, to), 0o755);
  }
  if (o.gpuLibs) {
    const g = stageGpuLibs(o.gpuLibs, o.dir);
    notes.push(
      `GPU libraries from ${o.gpuLibs}: ${g.providers.length} onnxruntime providers beside its binding, ${g.runtime.length} in ${GPU_LIB_DIR}/`,
    );
  }
  const addons = nativeAddons(join(o.dir, "app/node_modules")).map((p) => relative(o.dir, p));
  notes.push(`native addons: ${addons.join(", ") || "none"}`);
  return notes;
}
