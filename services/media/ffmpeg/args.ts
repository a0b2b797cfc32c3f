/**
 * ffmpeg argument arrays for each pipeline. Pure functions: no I/O, unit-tested, shared by the worker and the
 * benchmark. Input and output names are fixed relative names inside the job's work folder, so no user string
 * (a file name with shell characters) ever becomes an argument.
 */
import { encoderArgs, encoderFilterSuffix, encoderInputArgs } from "./encoders.js";

export interface Rung {
  height: number;
  videoKbps: number;
  audioKbps: number;
}

export interface VideoPlan {
  encoder: string;
  preset: string;
  segmentSeconds: number;
  fps: number;
  hasAudio: boolean;
  rungs: Rung[];
}

/** The ladder for a source `height` px tall: never upscaled; a source below every rung gets one at its own. */
export function ladderFor(rungs: readonly Rung[], height: number): Rung[] {
  const fit = rungs.filter((r) => r.height <= height).sort((a, b) => b.height - a.height);
  if (fit.length > 0) return fit;
  const lowest = [...rungs].sort((a, b) => a.height - b.height)[0];
  const even = Math.max(2, height - (height % 2));
  return [{ height: even, videoKbps: lowest?.videoKbps ?? 400, audioKbps: lowest?.audioKbps ?? 64 }];
}

/** Keyframes every segment boundary in every rendition, so players switch cleanly (aligned GOPs). */
function gopArgs(plan: VideoPlan): string[] {
  const gop = String(Math.max(1, Math.round((plan.fps || 25) * plan.segmentSeconds)));
  return ["-g", gop, "-keyint_min", gop, "-force_key_frames", `expr:gte(t,n_forced*${plan.segmentSeconds})`];
}

function rateArgs(i: number, r: Rung): string[] {
  return [
    `-b:v:${i}`,
    `${r.videoKbps}k`,
    `-maxrate:v:${i}`,
    `${Math.round(r.videoKbps * 1.1)}k`,
    `-bufsize:v:${i}`,
    `${r.videoKbps * 2}k`,
  ];
}

const hlsArgs = (seconds: number) => [
  "-f",
  "hls",
  "-hls_time",
  String(seconds),
  "-hls_playlist_type",
  "vod",
  "-hls_segment_type",
  "mpegts",
  "-hls_flags",
  "independent_segments",
];

/**
 * One ffmpeg process for the whole ladder: decode once, `split`, scale per rung, encode each, and let the HLS
 * muxer write every rendition (`r<i>/index.m3u8`, `r<i>/seg_<n>.ts`) and the master playlist.
 */
export function ladderArgs(input: string, plan: VideoPlan): string[] {
  const n = plan.rungs.length;
  const split = `[0:v]split=${n}${plan.rungs.map((_, i) => `[s${i}]`).join("")}`;
  const hw = encoderFilterSuffix(plan.encoder);
  const scales = plan.rungs.map((r, i) => `[s${i}]scale=-2:${r.height}${hw}[v${i}]`);
  const maps: string[] = [];
  plan.rungs.forEach((r, i) => {
    maps.push("-map", `[v${i}]`, ...rateArgs(i, r));
    if (plan.hasAudio) maps.push("-map", "0:a:0", `-b:a:${i}`, `${r.audioKbps}k`);
  });
  const streamMap = plan.rungs.map((_, i) => (plan.hasAudio ? `v:${i},a:${i}` : `v:${i}`)).join(" ");
  return [
    "-y",
    ...encoderInputArgs(plan.encoder),
    "-i",
    input,
    "-filter_complex",
    [split, ...scales].join(";"),
    ...maps,
    ...encoderArgs(plan.encoder, plan.preset),
    ...gopArgs(plan),
    ...(plan.hasAudio ? ["-c:a", "aac", "-ac", "2"] : []),
    ...hlsArgs(plan.segmentSeconds),
    "-master_pl_name",
    "master.m3u8",
    "-var_stream_map",
    streamMap,
    "-hls_segment_filename",
    "r%v/seg_%05d.ts",
    "r%v/index.m3u8",
  ];
}

/** One rendition on its own (the benchmark's baseline for the one-pass ladder). */
export function renditionArgs(input: string, plan: VideoPlan, i: number): string[] {
  const r = plan.rungs[i]!;
  return [
    "-y",
    ...encoderInputArgs(plan.encoder),
    "-i",
    input,
    "-vf",
    `scale=-2:${r.height}${encoderFilterSuffix(plan.encoder)}`,
    "-map",
    "0:v:0",
    ...(plan.hasAudio ? ["-map", "0:a:0", "-c:a", "aac", "-ac", "2", "-b:a", `${r.audioKbps}k`] : []),
    ...encoderArgs(plan.encoder, plan.preset),
    ...rateArgs(0, r),
    ...gopArgs(plan),
    ...hlsArgs(plan.segmentSeconds),
    "-hls_segment_filename",
    `r${i}/seg_%05d.ts`,
    `r${i}/index.m3u8`,
  ];
}

/** Three thumbnails at 25/50/75 % of the clip, one process with three fast-seeked inputs. */
export function thumbnailArgs(input: string, duration: number, width = 320): string[] {
  const at = [0.25, 0.5, 0.75].map((f) => (duration * f).toFixed(3));
  const inputs = at.flatMap((t) => ["-ss", t, "-i", input]);
  const outs = at.flatMap((_, i) => [
    "-map",
    `${i}:v:0`,
    "-frames:v",
    "1",
    "-vf",
    `scale=${width}:-2`,
    "-q:v",
    "4",
    `thumb_${i + 1}.jpg`,
  ]);
  return ["-y", ...inputs, ...outs];
}

/** A scrubbing sprite: `tiles` frames spread over the clip, 160 px wide, in one row-major grid image. */
export function spriteArgs(input: string, duration: number, tiles = 10): string[] {
  const fps = Math.max(tiles / Math.max(duration, 0.1), 0.001).toFixed(6);
  return [
    "-y",
    "-i",
    input,
    "-map",
    "0:v:0",
    "-vf",
    `fps=${fps},scale=160:-2,tile=${tiles}x1`,
    "-frames:v",
    "1",
    "-q:v",
    "5",
    "sprite.jpg",
  ];
}

/** EXIF orientation (1..8) → the filters that show the picture upright. */
export function orientationFilter(orientation: number): string[] {
  const map: Record<number, string[]> = {
    2: ["hflip"],
    3: ["hflip", "vflip"],
    4: ["vflip"],
    5: ["transpose=0"],
    6: ["transpose=1"],
    7: ["transpose=3"],
    8: ["transpose=2"],
  };
  return map[orientation] ?? [];
}

/**
 * Photo variants: upright, each width not above the source's, JPEG and WebP. The encoders write no EXIF, so
 * variants carry none (GPS included); the original stays in files as uploaded.
 */
export function photoArgs(input: string, orientation: number, widths: readonly number[]): string[] {
  const pre = orientationFilter(orientation);
  const n = widths.length * 2;
  const head = `[0:v]${[...pre, "format=yuvj420p", `split=${n}`].join(",")}${Array.from({ length: n }, (_, i) => `[s${i}]`).join("")}`;
  const parts: string[] = [head];
  const outs: string[] = [];
  widths.forEach((w, i) => {
    for (const [j, ext] of [
      [0, "jpg"],
      [1, "webp"],
    ] as const) {
      const k = i * 2 + j;
      parts.push(`[s${k}]scale=${w}:-2${ext === "webp" ? ",format=yuv420p" : ""}[o${k}]`);
      outs.push("-map", `[o${k}]`, "-frames:v", "1", ...(ext === "jpg" ? ["-q:v", "3"] : ["-quality", "80"]));
      outs.push(`w${w}.${ext}`);
    }
  });
  // -noautorotate: some ffmpeg builds turn a JPEG upright themselves, others not; one way, ours, for all.
  return ["-y", "-noautorotate", "-i", input, "-filter_complex", parts.join(";"), ...outs];
}

/** Audio: an AAC rendition (`audio.m4a`) and an Opus one (`audio.ogg`). */
export function audioArgs(input: string, kbps: number): string[] {
  return [
    "-y",
    "-i",
    input,
    "-map",
    "0:a:0",
    "-vn",
    "-c:a",
    "aac",
    "-b:a",
    `${kbps}k`,
    "-movflags",
    "+faststart",
    "audio.m4a",
    "-map",
    "0:a:0",
    "-vn",
    "-c:a",
    "libopus",
    "-b:a",
    `${kbps}k`,
    "audio.ogg",
  ];
}

/** Raw mono 8-bit samples at a low rate on stdout, for the waveform. */
export function peaksArgs(input: string, rate: number): string[] {
  return [
    "-v",
    "error",
    "-i",
    input,
    "-map",
    "0:a:0",
    "-ac",
    "1",
    "-ar",
    String(rate),
    "-f",
    "u8",
    "-c:a",
    "pcm_u8",
    "pipe:1",
  ];
}
