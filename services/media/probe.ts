/**
 * What a source is: ffprobe's JSON reduced to what the pipelines need (kind, duration, codecs, size,
 * rotation, creation time, GPS presence), and the limits checked before any decoding starts, so a bomb or a
 * 10-hour file is refused in milliseconds with a reason a person can read.
 */
import { FfmpegError, type RunLimits, runFfmpeg } from "./ffmpeg/run.js";

export interface ProbeResult {
  kind: "video" | "audio" | "image";
  format: string;
  durationSeconds: number;
  video: { codec: string; width: number; height: number; rotation: number; fps: number } | null;
  audio: { codec: string; channels: number; sampleRate: number } | null;
  /** Displayed size (after rotation). */
  display: { width: number; height: number } | null;
  /** EXIF orientation (1..8) of a photo; 1 when none. */
  orientation: number;
  createdAt: string | null;
  hasGps: boolean;
}

export interface ProbeLimits {
  maxPixels: number;
  maxDurationSeconds: number;
}

/** A source the pipelines refuse; the message is the job's failure reason. */
export class BadMediaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BadMediaError";
  }
}

type Json = Record<string, unknown>;
const IMAGE_CODECS = new Set(["mjpeg", "png", "webp", "bmp", "tiff", "gif", "jpegls", "heif", "av1"]);
const IMAGE_FORMATS = /image2|_pipe$|png|webp|gif|bmp|tiff/;

/** Runs ffprobe on `file` and checks the limits; throws BadMediaError for anything not usable. */
export async function probe(
  ffprobe: string,
  file: string,
  cwd: string,
  limits: ProbeLimits,
  run: RunLimits,
): Promise<ProbeResult> {
  const ask = (extra: string[]) =>
    runFfmpeg({
      bin: ffprobe,
      args: ["-v", "error", ...extra, "-of", "json", file],
      cwd,
      limits: { ...run, timeoutMs: Math.min(run.timeoutMs, 30_000) },
      stdout: "collect",
    }).then((out) => JSON.parse(out.toString("utf8")) as Json);
  let json: Json;
  try {
    // Headers only first: a decompression bomb is refused before a single frame is decoded.
    json = await ask(["-show_format", "-show_streams"]);
    const first = summarize(json, limits);
    if (first.kind !== "image") return first;
    // A photo within the limits: its first frame carries the EXIF (orientation, GPS).
    const frames = await ask(["-show_frames", "-read_intervals", "%+#1", "-show_entries", "frame_tags"]);
    return summarize({ ...json, frames: frames.frames }, limits);
  } catch (err) {
    if (err instanceof FfmpegError && err.kind === "exit")
      throw new BadMediaError(`not a readable media file (${err.message})`);
    throw err;
  }
}

const num = (v: unknown) => {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
};

/** The probe's JSON → ProbeResult, with the limits applied. Exported for unit tests. */
export function summarize(json: Json, limits: ProbeLimits): ProbeResult {
  const streams = (json.streams as Json[] | undefined) ?? [];
  const format = (json.format as Json | undefined) ?? {};
  const frames = (json.frames as Json[] | undefined) ?? [];
  const v = streams.find((s) => s.codec_type === "video" && !(s.disposition as Json)?.attached_pic);
  const a = streams.find((s) => s.codec_type === "audio");
  if (!v && !a) throw new BadMediaError("no audio or video stream: not a media file");
  const formatName = String(format.format_name ?? "");
  const isImage = !!v && (IMAGE_FORMATS.test(formatName) || (IMAGE_CODECS.has(String(v.codec_name)) && !a));
  const kind = isImage ? "image" : v ? "video" : "audio";
  const duration = num(format.duration) || num(v?.duration) || num(a?.duration);
  const frameTags = ((frames[0]?.tags as Json | undefined) ?? {}) as Record<string, string>;
  const tags = { ...((format.tags as Json) ?? {}), ...((v?.tags as Json) ?? {}) } as Record<string, string>;
  const video = v
    ? {
        codec: String(v.codec_name),
        width: num(v.width),
        height: num(v.height),
        rotation: rotationOf(v),
        fps: fpsOf(String(v.avg_frame_rate ?? "")),
      }
    : null;
  if (video && (video.width <= 0 || video.height <= 0))
    throw new BadMediaError("the picture has no usable size (corrupt or truncated header)");
  if (video && video.width * video.height > limits.maxPixels) {
    throw new BadMediaError(
      `the picture is ${video.width}×${video.height} (${Math.round((video.width * video.height) / 1e6)} MP), over the ${Math.round(limits.maxPixels / 1e6)} MP limit`,
    );
  }
  if (kind !== "image" && !(duration > 0)) throw new BadMediaError("zero duration: nothing to play");
  if (duration > limits.maxDurationSeconds) {
    throw new BadMediaError(
      `${Math.round(duration)} s long, over the ${limits.maxDurationSeconds} s limit for this box`,
    );
  }
  const orientation = Math.trunc(num(frameTags.Orientation)) || 1;
  const rotated = video && (Math.abs(video.rotation) % 180 === 90 || orientation >= 5);
  return {
    kind,
    format: formatName,
    durationSeconds: duration,
    video,
    audio: a
      ? { codec: String(a.codec_name), channels: num(a.channels), sampleRate: num(a.sample_rate) }
      : null,
    display: video
      ? rotated
        ? { width: video.height, height: video.width }
        : { width: video.width, height: video.height }
      : null,
    orientation: orientation >= 1 && orientation <= 8 ? orientation : 1,
    createdAt: tags.creation_time ?? frameTags.DateTimeOriginal ?? frameTags.DateTime ?? null,
    hasGps:
      Object.keys(frameTags).some((k) => k.startsWith("GPS")) ||
      Object.keys(tags).some((k) => /location|ISO6709/i.test(k)),
  };
}

function rotationOf(v: Json): number {
  const list = (v.side_data_list as Json[] | undefined) ?? [];
  const dm = list.find((s) => s.rotation !== undefined);
  if (dm) return num(dm.rotation);
  return num((v.tags as Json | undefined)?.rotate);
}

function fpsOf(rate: string): number {
  const [n, d] = rate.split("/").map(Number);
  return n && d ? n / d : 0;
}
