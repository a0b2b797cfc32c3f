/**
 * Media settings (env `NEXUS_MEDIA_<KEY>`, the profile's or config.json's `serviceConfig.media`). The
 * appliance fills `h264Encoders` from the hardware profile's `ffmpeg.h264Encoders` and `sourceFiles` from the
 * files service's settings (so media opens the same blob store, read-only); per-hardware ladders, job
 * concurrency and memory go in the profile's `serviceConfig.media`.
 */
import { z } from "zod";

const MiB = 1024 * 1024;

/** A list from config (array) or env (comma-separated; one number alone arrives coerced to a number). */
const list = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (v) => (typeof v === "string" ? v.split(",").map((s) => s.trim()) : typeof v === "number" ? [v] : v),
    z.array(item),
  );

const rung = z.object({
  height: z.number().int().min(16).max(4320),
  videoKbps: z.number().int().min(50).max(100_000),
  audioKbps: z.number().int().min(16).max(512),
});

export const DEFAULT_LADDER = [
  { height: 1080, videoKbps: 5000, audioKbps: 128 },
  { height: 720, videoKbps: 2800, audioKbps: 128 },
  { height: 480, videoKbps: 1200, audioKbps: 96 },
  { height: 360, videoKbps: 700, audioKbps: 64 },
];

export const mediaConfigSchema = z.object({
  /** Process new uploads of media files on their own (bulk priority). */
  autoProcess: z.boolean().default(true),
  /** ffmpeg jobs at once. */
  concurrency: z.number().int().min(1).max(32).default(1),
  /** Address space per ffmpeg process (prlimit); 0: no limit. */
  memoryMb: z.number().int().min(0).default(2048),
  jobTimeoutSeconds: z.number().int().min(1).default(3600),
  /** Bytes a job's outputs may take. */
  maxOutputBytes: z
    .number()
    .int()
    .positive()
    .default(8 * 1024 * MiB),
  maxPixels: z.number().int().positive().default(80_000_000),
  maxDurationSeconds: z
    .number()
    .positive()
    .default(6 * 3600),
  maxAttempts: z.number().int().min(1).max(20).default(3),
  retryBaseMs: z.number().int().min(10).default(5000),
  /** The rendition ladder, highest first; rungs above the source are skipped. */
  ladder: z.array(rung).min(1).default(DEFAULT_LADDER),
  segmentSeconds: z.number().int().min(1).max(20).default(4),
  /** libx264 preset. */
  preset: z
    .enum(["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"])
    .default("veryfast"),
  /** H.264 encoders to try in order; the appliance sets it from the profile. libx264 is always the last. */
  h264Encoders: list(z.string().regex(/^[a-z0-9_]+$/)).default(["libx264"]),
  photoWidths: list(z.coerce.number().int().min(16).max(16384)).default([320, 1280, 2048]),
  audioKbps: z.number().int().min(16).max(512).default(96),
  /** Points in a waveform. */
  waveformPoints: z.number().int().min(10).max(10_000).default(800),
  /** Lifetime of a signed playback URL. */
  playbackUrlSeconds: z.number().int().min(10).max(86_400).default(3600),
  /** The files service's settings (blob store); the appliance copies them here. */
  sourceFiles: z.record(z.string(), z.unknown()).default({}),
  /** The forms service's settings (its attachment store); the appliance copies them here. */
  sourceForms: z.record(z.string(), z.unknown()).default({}),
  /** Photo variants: `strip` (no EXIF) or `keep` (the original's EXIF, orientation reset); a space may override. */
  exif: z.enum(["keep", "strip"]).default("strip"),
  /** GPS in variants that keep EXIF (per space too); `strip` by default. */
  gps: z.enum(["keep", "strip"]).default("strip"),
  /** GPS in variants served through signed (shareable) playback URLs: `strip` by default. */
  shareLinkGps: z.enum(["keep", "strip"]).default("strip"),
});

export type MediaConfig = z.infer<typeof mediaConfigSchema>;
