/**
 * What one job does to its source, by kind: probe, then photos → upright sized variants; video → 3
 * thumbnails, a sprite and the HLS ladder (one ffmpeg, several outputs); audio → AAC and Opus renditions and a
 * waveform. Everything is written into the job's own work folder; publishing it is the caller's.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MediaConfig } from "./config.js";
import { exifIntoVariants } from "./exif.js";
import {
  audioArgs,
  ladderArgs,
  ladderFor,
  photoArgs,
  spriteArgs,
  thumbnailArgs,
  type VideoPlan,
} from "./ffmpeg/args.js";
import { encoderChain, withFallback } from "./ffmpeg/encoders.js";
import type { Progress } from "./ffmpeg/progress.js";
import type { Binaries } from "./ffmpeg/resolve.js";
import { FfmpegError, type RunLimits, runFfmpeg } from "./ffmpeg/run.js";
import { type ProbeResult, probe } from "./probe.js";
import type { PhotoPolicy } from "./space-settings.js";
import { peaksOf } from "./waveform.js";

export interface JobHooks {
  onStage(stage: string, percent: number, etaSeconds: number | null): void;
  onPid(pid: number): void;
  onFallback(from: string, reason: string): void;
  signal: AbortSignal;
}

export interface JobResult {
  probe: ProbeResult;
  encoder: string | null;
}

interface Step {
  name: string;
  weight: number;
  run: (onProgress: (p: Progress) => void) => Promise<void>;
}

/** Runs the pipeline for `input` in `work`. Throws BadMediaError / FfmpegError with the reason. */
export async function processSource(
  bins: Binaries,
  config: MediaConfig,
  input: string,
  work: string,
  hooks: JobHooks,
  photo: PhotoPolicy = { exif: config.exif, gps: config.gps, shareLinkGps: config.shareLinkGps },
): Promise<JobResult> {
  const limits: RunLimits = {
    timeoutMs: config.jobTimeoutSeconds * 1000,
    maxOutputBytes: config.maxOutputBytes,
    memoryBytes: config.memoryMb * 1024 * 1024,
  };
  hooks.onStage("probe", 0, null);
  const info = await probe(bins.ffprobe, input, work, config, limits);
  writeFileSync(join(work, "probe.json"), JSON.stringify(info));
  const ff = (args: string[], onProgress?: (p: Progress) => void) =>
    runFfmpeg({
      bin: bins.ffmpeg,
      args,
      cwd: work,
      limits,
      durationSeconds: info.durationSeconds,
      onProgress,
      onPid: hooks.onPid,
      signal: hooks.signal,
    }).then(() => undefined);
  let encoder: string | null = null;
  const steps: Step[] = [];
  if (info.kind === "image") {
    const widths = config.photoWidths.filter((w) => w < (info.display?.width ?? 0));
    const sizes = widths.length > 0 ? widths : [info.display!.width - (info.display!.width % 2) || 2];
    steps.push({
      name: "variants",
      weight: 1,
      run: async () => {
        await ff(photoArgs(input, info.orientation, sizes));
        exifIntoVariants(
          input,
          work,
          sizes.map((w) => `w${w}.jpg`),
          photo,
        );
      },
    });
  } else if (info.kind === "video") {
    const plan: VideoPlan = {
      encoder: "libx264",
      preset: config.preset,
      segmentSeconds: config.segmentSeconds,
      fps: info.video!.fps,
      hasAudio: !!info.audio,
      rungs: ladderFor(config.ladder, info.display!.height),
    };
    steps.push({
      name: "thumbnails",
      weight: 0.05,
      run: () => ff(thumbnailArgs(input, info.durationSeconds)),
    });
    steps.push({ name: "sprite", weight: 0.1, run: (p) => ff(spriteArgs(input, info.durationSeconds), p) });
    steps.push({
      name: "hls",
      weight: 0.85,
      run: async (p) => {
        // A ladder cut off mid-way starts again from a clean slate (see docs/media.md "Restarts").
        rmSync(join(work, "master.m3u8"), { force: true });
        for (let i = 0; i < plan.rungs.length; i++) {
          rmSync(join(work, `r${i}`), { recursive: true, force: true });
          mkdirSync(join(work, `r${i}`), { recursive: true });
        }
        const used = await withFallback(
          encoderChain(config.h264Encoders),
          (e) => ff(ladderArgs(input, { ...plan, encoder: e }), p),
          (err) => err instanceof FfmpegError && err.kind === "exit",
          (from, err) => hooks.onFallback(from, (err as Error).message),
        );
        encoder = used.encoder;
      },
    });
  } else {
    steps.push({ name: "audio", weight: 0.8, run: (p) => ff(audioArgs(input, config.audioKbps), p) });
    steps.push({
      name: "waveform",
      weight: 0.2,
      run: async () => {
        const peaks = await peaksOf(
          bins.ffmpeg,
          input,
          work,
          limits,
          info.durationSeconds,
          config.waveformPoints,
          hooks,
        );
        writeFileSync(join(work, "waveform.json"), JSON.stringify(peaks));
      },
    });
  }
  // Steps an interrupted attempt finished (the service was stopped or killed) are not run again.
  const before = stepsDone(work);
  const finished = new Set(before.steps);
  encoder = before.encoder;
  let done = 0;
  for (const step of steps) {
    if (finished.has(step.name)) {
      done += step.weight;
      continue;
    }
    hooks.onStage(step.name, done * 100, null);
    await step.run((p) =>
      hooks.onStage(step.name, (done + (step.weight * p.percent) / 100) * 100, p.etaSeconds),
    );
    done += step.weight;
    finished.add(step.name);
    writeFileSync(join(work, STEPS), JSON.stringify({ steps: [...finished], encoder }));
  }
  return { probe: info, encoder };
}

/** The work folder's record of finished steps (not an output: publish skips it). */
export const STEPS = ".steps.json";

function stepsDone(work: string): { steps: string[]; encoder: string | null } {
  try {
    const r = JSON.parse(readFileSync(join(work, STEPS), "utf8")) as { steps?: unknown; encoder?: unknown };
    const steps = Array.isArray(r.steps) ? r.steps.filter((n): n is string => typeof n === "string") : [];
    return { steps, encoder: typeof r.encoder === "string" ? r.encoder : null };
  } catch {
    return { steps: [], encoder: null };
  }
}
