/**
 * What `nexus doctor` says about ffmpeg: which binary (and where it came from), its version, its H.264/HEVC
 * encoders, and for each hardware encoder it lists (h264_nvenc, hevc_nvenc, h264_v4l2m2m, h264_vaapi) whether one real
 * frame encodes: a build lists NVENC whether or not the box has the GPU and driver for it.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { oneFrameTestArgs } from "./encoders.js";
import { type BinarySource, resolveBinaries } from "./resolve.js";

const run = promisify(execFile);
export const HARDWARE_ENCODERS = ["h264_nvenc", "hevc_nvenc", "h264_v4l2m2m", "h264_vaapi"] as const;

export interface FfmpegReport {
  path: string;
  source: BinarySource;
  version: string;
  /** Video encoders of H.264 and HEVC the build has. */
  encoders: string[];
  /** Hardware encoders the build has: whether a 1-frame encode worked, and why not. */
  hardware: { name: string; works: boolean; reason?: string }[];
}

/** Inspects the resolved ffmpeg; throws when none is found or it does not run. */
export async function ffmpegReport(env: NodeJS.ProcessEnv = process.env): Promise<FfmpegReport> {
  const bins = resolveBinaries(env);
  const { stdout: v } = await run(bins.ffmpeg, ["-hide_banner", "-version"], { timeout: 10_000 });
  const version = /ffmpeg version (\S+)/.exec(v)?.[1] ?? "unknown";
  const { stdout: list } = await run(bins.ffmpeg, ["-hide_banner", "-encoders"], { timeout: 10_000 });
  const encoders = list
    .split("\n")
    .map(
      (l) =>
        /^\s*V\S*\s+(\S+)\s+.*\((?:codec )?(h264|hevc)\)/.exec(l)?.[1] ??
        /^\s*V\S*\s+(libx264|libx265)\s/.exec(l)?.[1],
    )
    .filter((e): e is string => !!e);
  const hardware = [];
  for (const name of HARDWARE_ENCODERS.filter((e) => encoders.includes(e))) {
    try {
      await run(bins.ffmpeg, oneFrameTestArgs(name), { timeout: 20_000 });
      hardware.push({ name, works: true });
    } catch (err) {
      // The encoder's own first line says why ("Cannot load libcuda.so.1"); ffmpeg's last one is generic.
      const first =
        String((err as { stderr?: string }).stderr ?? "")
          .trim()
          .split("\n")[0] ?? "";
      const stderr = first.replace(/^\[[^\]]*\]\s*/, "");
      hardware.push({ name, works: false, reason: stderr.slice(0, 160) || "failed" });
    }
  }
  return { path: bins.ffmpeg, source: bins.source.ffmpeg, version, encoders, hardware };
}
