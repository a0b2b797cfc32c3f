/**
 * Media's pure parts and the encoder fallback through the real ffmpeg runner: encoder chains by profile,
 * the fallback from an encoder that fails at run time, ladders (never upscaled, one process), progress and
 * ETA from `-progress`, probe limits, binary resolution.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_LADDER } from "../../services/media/config.js";
import { ladderArgs, ladderFor, orientationFilter } from "../../services/media/ffmpeg/args.js";
import {
  encoderArgs,
  encoderChain,
  oneFrameTestArgs,
  withFallback,
} from "../../services/media/ffmpeg/encoders.js";
import { ProgressParser, progressOf } from "../../services/media/ffmpeg/progress.js";
import { resolveBinaries } from "../../services/media/ffmpeg/resolve.js";
import { FfmpegError, runFfmpeg } from "../../services/media/ffmpeg/run.js";
import { BadMediaError, summarize } from "../../services/media/probe.js";

const work = mkdtempSync(join(os.tmpdir(), "nexus-media-unit-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const limits = { timeoutMs: 20_000, maxOutputBytes: 10_000_000, memoryBytes: 0 };

describe("encoders by profile", () => {
  it("tries the profile's encoders in order and always ends with libx264", () => {
    expect(encoderChain(["h264_nvenc", "hevc_nvenc"])).toEqual(["h264_nvenc", "hevc_nvenc", "libx264"]); // NVIDIA
    expect(encoderChain(["h264_v4l2m2m"])).toEqual(["h264_v4l2m2m", "libx264"]); // Raspberry Pi
    expect(encoderChain(["libx264"])).toEqual(["libx264"]); // generic
    expect(encoderChain(["libx264", "h264_nvenc", "h264_nvenc"])).toEqual(["h264_nvenc", "libx264"]);
    expect(encoderChain(["bad;rm -rf /"])).toEqual(["libx264"]);
    expect(encoderArgs("h264_nvenc", "fast")).toContain("h264_nvenc");
    expect(encoderArgs("libx264", "ultrafast")).toEqual(expect.arrayContaining(["-preset", "ultrafast"]));
  });

  it("falls back to libx264 when a hardware encoder fails at run time (real ffmpeg)", async () => {
    const bins = resolveBinaries();
    const tried: string[] = [];
    const fallbacks: string[] = [];
    const { encoder } = await withFallback(
      encoderChain(["no_such_encoder_nvenc"]),
      (e) => {
        tried.push(e);
        return runFfmpeg({ bin: bins.ffmpeg, args: oneFrameTestArgs(e), cwd: work, limits });
      },
      (err) => err instanceof FfmpegError && err.kind === "exit",
      (from) => fallbacks.push(from),
    );
    expect(tried).toEqual(["no_such_encoder_nvenc", "libx264"]);
    expect(fallbacks).toEqual(["no_such_encoder_nvenc"]);
    expect(encoder).toBe("libx264");
  });

  it("does not fall back from libx264 itself, nor on a limit", async () => {
    const boom = new FfmpegError("took longer than 1 s", "timeout");
    await expect(
      withFallback(
        ["h264_nvenc", "libx264"],
        () => Promise.reject(boom),
        (e) => (e as FfmpegError).kind === "exit",
      ),
    ).rejects.toBe(boom);
  });
});

describe("ladder", () => {
  it("never upscales, and a small source gets one rung at its own height", () => {
    expect(ladderFor(DEFAULT_LADDER, 1080).map((r) => r.height)).toEqual([1080, 720, 480, 360]);
    expect(ladderFor(DEFAULT_LADDER, 720).map((r) => r.height)).toEqual([720, 480, 360]);
    expect(ladderFor(DEFAULT_LADDER, 241).map((r) => r.height)).toEqual([240]);
  });

  it("is one ffmpeg: split once, aligned keyframes, a master playlist", () => {
    const rungs = ladderFor(DEFAULT_LADDER, 720);
    const args = ladderArgs("in", {
      encoder: "libx264",
      preset: "ultrafast",
      segmentSeconds: 4,
      fps: 30,
      hasAudio: true,
      rungs,
    });
    const filter = args[args.indexOf("-filter_complex") + 1];
    expect(filter).toMatch(/^\[0:v\]split=3\[s0\]\[s1\]\[s2\];/);
    expect(args).toEqual(
      expect.arrayContaining(["-g", "120", "-keyint_min", "120", "-master_pl_name", "master.m3u8"]),
    );
    expect(args[args.indexOf("-var_stream_map") + 1]).toBe("v:0,a:0 v:1,a:1 v:2,a:2");
    expect(args.filter((a) => a === "-i")).toHaveLength(1);
  });

  it("turns EXIF orientations upright", () => {
    expect(orientationFilter(1)).toEqual([]);
    expect(orientationFilter(6)).toEqual(["transpose=1"]);
    expect(orientationFilter(8)).toEqual(["transpose=2"]);
  });
});

describe("progress", () => {
  it("parses -progress blocks into percent and ETA", () => {
    const seen: number[] = [];
    const p = new ProgressParser(10, (x) => seen.push(x.percent));
    p.push("frame=10\nout_time_us=2500000\nspeed=2.0x\nprogress=cont");
    p.push("inue\nout_time_us=5000000\nprogress=continue\nprogress=end\n");
    expect(seen).toEqual([25, 50, 100]);
    const half = progressOf({ out_time_us: "5000000", speed: "1.5x" }, false, 10, 4000);
    expect(half).toMatchObject({ percent: 50, etaSeconds: 4, speed: 1.5, done: false });
    expect(progressOf({}, false, 0, 100).percent).toBe(0);
  });
});

describe("probe limits", () => {
  const lim = { maxPixels: 50e6, maxDurationSeconds: 3600 };
  const video = (w: number, h: number, duration: string) => ({
    streams: [{ codec_type: "video", codec_name: "h264", width: w, height: h, avg_frame_rate: "25/1" }],
    format: { format_name: "mov,mp4,m4a,3gp,3g2,mj2", duration },
  });
  it("reads kind, size and rotation", () => {
    const r = summarize(
      {
        streams: [
          {
            codec_type: "video",
            codec_name: "h264",
            width: 1920,
            height: 1080,
            avg_frame_rate: "30/1",
            side_data_list: [{ rotation: -90 }],
          },
          { codec_type: "audio", codec_name: "aac", channels: 2, sample_rate: "48000" },
        ],
        format: {
          format_name: "mov,mp4",
          duration: "12.5",
          tags: { creation_time: "2026-01-02T03:04:05Z", location: "+48.85+002.35/" },
        },
      },
      lim,
    );
    expect(r).toMatchObject({
      kind: "video",
      durationSeconds: 12.5,
      display: { width: 1080, height: 1920 },
      hasGps: true,
    });
    expect(r.createdAt).toBe("2026-01-02T03:04:05Z");
  });
  it("refuses what is over a limit or empty", () => {
    expect(() => summarize(video(40000, 40000, "1"), lim)).toThrow(BadMediaError);
    expect(() => summarize(video(640, 360, "36000"), lim)).toThrow(/36000 s long/);
    expect(() => summarize(video(640, 360, "0"), lim)).toThrow(/zero duration/);
    expect(() => summarize({ streams: [], format: {} }, lim)).toThrow(/not a media file/);
  });
});

describe("binaries", () => {
  it("takes NEXUS_FFMPEG first, then the system's, then the npm packages'", () => {
    expect(resolveBinaries({ NEXUS_FFMPEG: "/opt/ff", NEXUS_FFPROBE: "/opt/fp", PATH: "" }).source).toEqual({
      ffmpeg: "env",
      ffprobe: "env",
    });
    expect(resolveBinaries({ PATH: "/usr/bin" }).ffmpeg).toBe("/usr/bin/ffmpeg");
    const npm = resolveBinaries({ PATH: "" });
    expect(npm.source).toEqual({ ffmpeg: "npm", ffprobe: "npm" });
    expect(npm.ffmpeg).toMatch(/@ffmpeg-installer\/linux-x64\/ffmpeg$/);
  });
});
