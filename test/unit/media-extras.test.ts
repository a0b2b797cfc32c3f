/**
 * Media's newer pure parts: EXIF for photo variants (orientation reset, GPS removed byte for byte, malformed
 * blocks dropped), forms attachment names → media types, and the hardware encoders' argument building
 * (NVENC, V4L2 M2M, VAAPI) for the whole ladder: no GPU here, so the arguments are what is checked. And a
 * job interrupted by a restart does not run its finished steps again (real ffmpeg, a tiny clip).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_LADDER, mediaConfigSchema } from "../../services/media/config.js";
import { exifHasGps, exifOfJpeg, variantExif, withExif } from "../../services/media/exif.js";
import { ladderArgs, ladderFor, renditionArgs, type VideoPlan } from "../../services/media/ffmpeg/args.js";
import { encoderChain, oneFrameTestArgs } from "../../services/media/ffmpeg/encoders.js";
import { resolveBinaries } from "../../services/media/ffmpeg/resolve.js";
import { mediaTypeOfName } from "../../services/media/forms-sources.js";
import { processSource, STEPS } from "../../services/media/pipelines.js";
import { makeClip, makePhoto } from "../helpers/media.js";

const work = mkdtempSync(join(os.tmpdir(), "nexus-media-x-unit-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("EXIF for variants", () => {
  const jpeg = readFileSync(makePhoto(join(work, "g.jpg"), "64x48", { orientation: 6, gps: true }));
  const tiff = exifOfJpeg(jpeg)!;

  it("reads the Exif block and tells GPS", () => {
    expect(tiff.subarray(0, 2).toString("latin1")).toBe("MM");
    expect(exifHasGps(tiff)).toBe(true);
    expect(exifOfJpeg(readFileSync(makePhoto(join(work, "plain.jpg"), "64x48")))).toBeNull();
    expect(exifOfJpeg(Buffer.from("not a jpeg"))).toBeNull();
  });

  it("resets orientation and removes the GPS IFD, leaving none of its bytes", () => {
    const out = variantExif(tiff, { dropGps: true })!;
    expect(out.length).toBe(tiff.length);
    expect(exifHasGps(out)).toBe(false);
    expect(out.includes(Buffer.from("N\0", "latin1"))).toBe(false); // the GPSLatitudeRef value is zeroed
    expect(out.readUInt16BE(8)).toBe(1); // IFD0 now has one entry: Orientation
    expect(out.readUInt16BE(10)).toBe(0x0112);
    expect(out.readUInt16BE(18)).toBe(1); // its value: upright
    expect(tiff.readUInt16BE(8)).toBe(2); // the input is not changed
    const kept = variantExif(tiff, { dropGps: false })!;
    expect(exifHasGps(kept)).toBe(true);
    expect(kept.readUInt16BE(18)).toBe(1);
  });

  it("drops a malformed block instead of copying it", () => {
    const bad = Buffer.from(tiff);
    bad.writeUInt32BE(0xfffff, 4); // IFD0 offset past the end
    expect(variantExif(bad, { dropGps: true })).toBeNull();
    const loop = Buffer.from(tiff);
    loop.writeUInt16BE(0xffff, 8); // 65535 entries claimed
    expect(variantExif(loop, { dropGps: true })).toBeNull();
    expect(variantExif(Buffer.from("XX\0\x2a"), { dropGps: true })).toBeNull();
  });

  it("puts one Exif block first in a JPEG, replacing any other", () => {
    const out = withExif(jpeg, variantExif(tiff, { dropGps: true }));
    expect(out.readUInt16BE(2)).toBe(0xffe1);
    expect(exifHasGps(exifOfJpeg(out)!)).toBe(false);
    expect(out.indexOf(Buffer.from("Exif\0\0"))).toBe(out.lastIndexOf(Buffer.from("Exif\0\0")));
    const none = withExif(jpeg, null);
    expect(exifOfJpeg(none)).toBeNull();
    expect(none.subarray(-2).equals(Buffer.from([0xff, 0xd9]))).toBe(true);
  });
});

describe("forms attachments", () => {
  it("are media by their names' extensions only", () => {
    expect(mediaTypeOfName("1712345678.jpg")).toBe("image/jpeg");
    expect(mediaTypeOfName("VOICE.M4A")).toBe("audio/mp4");
    expect(mediaTypeOfName("clip.3gp")).toBe("video/3gpp");
    expect(mediaTypeOfName("villages.csv")).toBeNull();
    expect(mediaTypeOfName("jpg")).toBeNull();
    expect(mediaTypeOfName("x.jpg.exe")).toBeNull();
  });
});

describe("hardware encoders' arguments (no GPU here)", () => {
  const plan = (encoder: string): VideoPlan => ({
    encoder,
    preset: "veryfast",
    segmentSeconds: 4,
    fps: 30,
    hasAudio: true,
    rungs: ladderFor(DEFAULT_LADDER, 1080),
  });
  const argAfter = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

  it("NVENC: the whole ladder on h264_nvenc / hevc_nvenc with forced IDR keyframes, no x264 options", () => {
    for (const enc of ["h264_nvenc", "hevc_nvenc"]) {
      const a = ladderArgs("in.mp4", plan(enc));
      expect(argAfter(a, "-c:v")).toBe(enc);
      expect(argAfter(a, "-forced-idr")).toBe("1");
      expect(argAfter(a, "-preset")).toBe("p4");
      expect(a).not.toContain("-sc_threshold");
      expect(argAfter(a, "-g")).toBe("120"); // 4 s × 30 fps, every rung
      expect(argAfter(a, "-force_key_frames")).toBe("expr:gte(t,n_forced*4)");
      expect(argAfter(a, "-filter_complex")).not.toContain("hwupload");
      expect(a.indexOf("-i")).toBe(1); // no device options
    }
    expect(argAfter(ladderArgs("in.mp4", plan("hevc_nvenc")), "-tag:v")).toBe("hvc1"); // HLS needs hvc1
  });

  it("V4L2 M2M (Raspberry Pi): yuv420p frames to h264_v4l2m2m", () => {
    const a = ladderArgs("in.mp4", plan("h264_v4l2m2m"));
    expect(argAfter(a, "-c:v")).toBe("h264_v4l2m2m");
    expect(argAfter(a, "-pix_fmt")).toBe("yuv420p");
    expect(a).not.toContain("-preset");
  });

  it("VAAPI: the render node before the input, NV12 frames uploaded at the end of every rung's chain", () => {
    const a = ladderArgs("in.mp4", plan("h264_vaapi"));
    expect(a.slice(0, 4)).toEqual(["-y", "-vaapi_device", "/dev/dri/renderD128", "-i"]);
    const graph = argAfter(a, "-filter_complex")!;
    expect(graph.match(/format=nv12,hwupload\[v\d\]/g)).toHaveLength(4);
    expect(argAfter(a, "-c:v")).toBe("h264_vaapi");
    expect(a).not.toContain("-pix_fmt");
    const one = renditionArgs("in.mp4", plan("h264_vaapi"), 1);
    expect(argAfter(one, "-vf")).toBe("scale=-2:720,format=nv12,hwupload");
    const probe = oneFrameTestArgs("h264_vaapi");
    expect(probe.indexOf("-vaapi_device")).toBeLessThan(probe.indexOf("-i"));
    expect(argAfter(probe, "-vf")).toBe("format=nv12,hwupload");
  });

  it("libx264 stays last and keeps its own options", () => {
    expect(encoderChain(["h264_vaapi"])).toEqual(["h264_vaapi", "libx264"]);
    const a = ladderArgs("in.mp4", plan("libx264"));
    expect(argAfter(a, "-preset")).toBe("veryfast");
    expect(argAfter(a, "-sc_threshold")).toBe("0");
  });
});

describe("an interrupted job", () => {
  it("runs only the steps it had not finished, and keeps the encoder it recorded", async () => {
    const clip = makeClip(join(work, "r.mp4"), 1, "160x120");
    const config = mediaConfigSchema.parse({ preset: "ultrafast", segmentSeconds: 1, memoryMb: 0 });
    const dir = join(work, "job");
    mkdirSync(dir);
    const stages: string[] = [];
    const hooks = {
      onStage: (stage: string) => stages.push(stage),
      onPid: () => {},
      onFallback: () => {},
      signal: new AbortController().signal,
    };
    const first = await processSource(resolveBinaries(), config, clip, dir, hooks);
    expect(first.encoder).toBe("libx264");
    expect(JSON.parse(readFileSync(join(dir, STEPS), "utf8")).steps).toEqual(["thumbnails", "sprite", "hls"]);
    // As if the service died during the ladder: thumbnails and sprite recorded, the ladder half written.
    writeFileSync(join(dir, STEPS), JSON.stringify({ steps: ["thumbnails", "sprite"], encoder: null }));
    writeFileSync(join(dir, "thumb_1.jpg"), "kept from the first attempt");
    rmSync(join(dir, "r0", "index.m3u8"));
    writeFileSync(join(dir, "r0", "seg_09999.ts"), "a stale half segment");
    stages.length = 0;
    const again = await processSource(resolveBinaries(), config, clip, dir, hooks);
    expect(again.encoder).toBe("libx264");
    expect(new Set(stages)).toEqual(new Set(["probe", "hls"]));
    expect(readFileSync(join(dir, "thumb_1.jpg"), "utf8")).toBe("kept from the first attempt");
    expect(existsSync(join(dir, "r0", "index.m3u8"))).toBe(true);
    expect(existsSync(join(dir, "r0", "seg_09999.ts"))).toBe(false);
    // All finished (killed while publishing): nothing runs again but the probe.
    stages.length = 0;
    expect((await processSource(resolveBinaries(), config, clip, dir, hooks)).encoder).toBe("libx264");
    expect(new Set(stages)).toEqual(new Set(["probe"]));
  });
});
