/**
 * Picks the hardware profile that fits this box, and says why. Everything is read from `root` (normally `/`) and
 * through `run` (normally a real process runner), so tests detect on fixture trees with a scripted runner.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Runs a command; null when it cannot be run at all (not installed). */
export type CommandRunner = (cmd: string, args: string[]) => Promise<{ code: number; stdout: string } | null>;

/** What detection saw on the box. */
export interface HardwareFacts {
  arch: string;
  model: string | null;
  nvidiaGpus: string[];
  memoryMb: number | null;
  cores: number | null;
}

export interface Detection {
  profile: string;
  reasons: string[];
  facts: HardwareFacts;
}

/** Below this much memory or at most this many cores, the box runs all services in one process. */
export const SMALL_BOX = { memoryMb: 3072, cores: 2 };

/** The real runner: execFile with a short timeout; null when the program is missing. */
export const systemRunner: CommandRunner = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, args, { timeout: 5000 }, (err, stdout) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") return resolve(null);
      const code = err ? Number((err as { code?: unknown }).code ?? 1) || 1 : 0;
      resolve({ code, stdout: String(stdout) });
    });
  });

function readText(root: string, path: string): string | null {
  const file = join(root, path);
  return existsSync(file) ? readFileSync(file, "utf8") : null;
}

/** Reads architecture, board model, NVIDIA GPUs, memory and cores. */
export async function readFacts(root: string, run: CommandRunner): Promise<HardwareFacts> {
  const uname = await run("uname", ["-m"]);
  const arch = uname?.code === 0 ? uname.stdout.trim() : process.arch === "arm64" ? "aarch64" : "x86_64";
  const model = readText(root, "proc/device-tree/model")?.replace(/\0/g, "").trim() || null;
  const smi = await run("nvidia-smi", ["--query-gpu=name", "--format=csv,noheader"]);
  const nvidiaGpus =
    smi?.code === 0
      ? smi.stdout
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean)
      : [];
  const mem = readText(root, "proc/meminfo")?.match(/^MemTotal:\s+(\d+)\s+kB/m);
  const cpuinfo = readText(root, "proc/cpuinfo");
  const cores = cpuinfo ? cpuinfo.split("\n").filter((l) => /^processor\s*:/.test(l)).length || null : null;
  return { arch, model, nvidiaGpus, memoryMb: mem ? Math.round(Number(mem[1]) / 1024) : null, cores };
}

/** The pure choice: facts in, profile name and reasons out. */
export function chooseProfile(f: HardwareFacts): Omit<Detection, "facts"> {
  const reasons = [`architecture ${f.arch}`];
  if (f.model) reasons.push(`board model "${f.model}" (/proc/device-tree/model)`);
  if (f.arch === "aarch64" && f.model && /jetson|orin/i.test(f.model)) {
    return { profile: "jetson-orin", reasons: [...reasons, "an NVIDIA Jetson board: TensorRT on its GPU"] };
  }
  if (f.arch === "aarch64" && f.model && /raspberry pi 5/i.test(f.model)) {
    return {
      profile: "raspberry-pi-5",
      reasons: [...reasons, "a Raspberry Pi 5: CPU inference, V4L2 encoder"],
    };
  }
  if (f.arch === "aarch64") {
    return {
      profile: "raspberry-pi-5",
      reasons: [...reasons, "an arm64 board without a profile of its own: the CPU-only arm64 profile"],
    };
  }
  if (f.nvidiaGpus.length) {
    return {
      profile: "x86_64-nvidia",
      reasons: [...reasons, `nvidia-smi lists ${f.nvidiaGpus.join(", ")}: CUDA/TensorRT and NVENC`],
    };
  }
  reasons.push("no NVIDIA GPU (nvidia-smi missing or lists none)");
  const small =
    (f.memoryMb !== null && f.memoryMb < SMALL_BOX.memoryMb) ||
    (f.cores !== null && f.cores <= SMALL_BOX.cores);
  const size = `${f.memoryMb ?? "?"} MB memory, ${f.cores ?? "?"} core(s)`;
  if (small) {
    return {
      profile: "small-box",
      reasons: [
        ...reasons,
        `${size}: under ${SMALL_BOX.memoryMb} MB or at most ${SMALL_BOX.cores} cores, so one shared process`,
      ],
    };
  }
  return { profile: "generic-x86_64", reasons: [...reasons, `${size}: one process per service`] };
}

/** Detects the profile of the box whose filesystem is at `root`. */
export async function detectProfile(root = "/", run: CommandRunner = systemRunner): Promise<Detection> {
  const facts = await readFacts(root, run);
  return { ...chooseProfile(facts), facts };
}
