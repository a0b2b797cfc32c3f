/** Media for tests, made here with ffmpeg's lavfi and a few hand-built headers: nothing is downloaded. */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";

const ff = (args: string[]) =>
  execFileSync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", ...args], { stdio: "pipe" });

/** A small H.264/AAC MP4 (testsrc2 + sine), `seconds` long at `size`. */
export function makeClip(file: string, seconds = 3, size = "320x240", audio = true): string {
  const a = audio ? ["-f", "lavfi", "-i", `sine=frequency=440:duration=${seconds}`] : [];
  ff([
    "-f",
    "lavfi",
    "-i",
    `testsrc2=size=${size}:rate=25:duration=${seconds}`,
    ...a,
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
    ...(audio ? ["-c:a", "aac", "-b:a", "64k", "-shortest"] : []),
    file,
  ]);
  return file;
}

/** A short audio file (sine). */
export function makeAudio(file: string, seconds = 3): string {
  ff(["-f", "lavfi", "-i", `sine=frequency=330:duration=${seconds}`, "-c:a", "libmp3lame", file]);
  return file;
}

/** A JPEG of `size`, with an EXIF block (orientation, and GPS when asked) spliced in after SOI. */
export function makePhoto(
  file: string,
  size = "640x360",
  exif: { orientation?: number; gps?: boolean } = {},
) {
  ff(["-f", "lavfi", "-i", `testsrc2=size=${size}:duration=1`, "-frames:v", "1", file]);
  if (exif.orientation || exif.gps) {
    const jpeg = readFileSync(file);
    writeFileSync(file, Buffer.concat([jpeg.subarray(0, 2), exifSegment(exif), jpeg.subarray(2)]));
  }
  return file;
}

/** An APP1 Exif segment: IFD0 with Orientation and a GPS IFD pointer; GPS IFD with a latitude ref. */
function exifSegment(exif: { orientation?: number; gps?: boolean }): Buffer {
  const entries: Buffer[] = [];
  const entry = (tag: number, type: number, count: number, value: number) => {
    const b = Buffer.alloc(12);
    b.writeUInt16BE(tag, 0);
    b.writeUInt16BE(type, 2);
    b.writeUInt32BE(count, 4);
    if (type === 3) b.writeUInt16BE(value, 8);
    else b.writeUInt32BE(value, 8);
    return b;
  };
  const n = (exif.orientation ? 1 : 0) + (exif.gps ? 1 : 0);
  const ifd0Size = 2 + n * 12 + 4;
  if (exif.orientation) entries.push(entry(0x0112, 3, 1, exif.orientation));
  if (exif.gps) entries.push(entry(0x8825, 4, 1, 8 + ifd0Size));
  const ifd0 = Buffer.concat([u16(n), ...entries, Buffer.alloc(4)]);
  let gps = Buffer.alloc(0);
  if (exif.gps) {
    const ref = Buffer.alloc(12);
    ref.writeUInt16BE(0x0001, 0); // GPSLatitudeRef
    ref.writeUInt16BE(2, 2); // ASCII
    ref.writeUInt32BE(2, 4);
    ref.write("N\0", 8, "latin1");
    gps = Buffer.concat([u16(1), ref, Buffer.alloc(4)]);
  }
  const tiff = Buffer.concat([Buffer.from("MM\0\x2a\0\0\0\x08", "latin1"), ifd0, gps]);
  const body = Buffer.concat([Buffer.from("Exif\0\0", "latin1"), tiff]);
  return Buffer.concat([Buffer.from([0xff, 0xe1]), u16(body.length + 2), body]);
}

const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v, 0);
  return b;
};

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length, 0);
  const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td), 0);
  return Buffer.concat([len, td, crc]);
}

/** A PNG of `w`×`h` grey pixels: all zeros deflate ~1000:1, so a big one is a decompression bomb. */
export function makePng(file: string, w: number, h: number, opts: { truncate?: boolean } = {}): string {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const head = Buffer.concat([sig, pngChunk("IHDR", ihdr)]);
  if (opts.truncate) {
    writeFileSync(file, Buffer.concat([head, pngChunk("IDAT", deflateSync(Buffer.alloc(1024)))]));
    return file;
  }
  const raw = Buffer.alloc((w + 1) * h); // filter byte 0 + w zero pixels per row
  const idat = deflateSync(raw, { level: 9 });
  writeFileSync(file, Buffer.concat([head, pngChunk("IDAT", idat), pngChunk("IEND", Buffer.alloc(0))]));
  return file;
}

/** `seconds` of silence at 100 Hz, 8-bit: a 10-hour file is 3.6 MB and takes a fraction of a second. */
export function makeLongSilence(file: string, seconds: number): string {
  ff(["-f", "lavfi", "-i", "anullsrc=r=100:cl=mono", "-t", String(seconds), "-c:a", "pcm_u8", file]);
  return file;
}

/** A WAV with no samples at all: zero duration. */
export function makeEmptyWav(file: string): string {
  ff(["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "0", "-c:a", "pcm_s16le", file]);
  return file;
}

export const inDir = (dir: string, name: string) => join(dir, name);
