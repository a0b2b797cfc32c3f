/**
 * Images in: the size read from the header (PNG, JPEG) and checked against the pixel limit before anything is
 * decoded, then decoded by ffmpeg (a separate process, arguments as an array) to raw RGB.
 */
import { spawn } from "node:child_process";

/** Input that is not a usable image: 400 (not an image), 413 (too many pixels), 501 (no PDF renderer). */
export class ImageError extends Error {
  constructor(
    readonly status: 400 | 413 | 501,
    message: string,
  ) {
    super(message);
    this.name = "ImageError";
  }
}

export interface Rgb {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Width and height from a PNG or JPEG header, or null for anything else. */
export function imageSize(b: Buffer): { width: number; height: number; format: "png" | "jpeg" } | null {
  if (b.length >= 24 && b.readUInt32BE(0) === 0x89504e47 && b.toString("ascii", 12, 16) === "IHDR")
    return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), format: "png" };
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return null;
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1] as number;
    const len = b.readUInt16BE(i + 2);
    // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC) carry the frame size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7), format: "jpeg" };
    i += 2 + len;
  }
  return null;
}

/** Decodes a PNG or JPEG to RGB after checking its size; throws ImageError for anything else. */
export async function decodeImage(bytes: Buffer, maxPixels: number): Promise<Rgb> {
  const size = imageSize(bytes);
  if (!size) throw new ImageError(400, "not an image: send a PNG or JPEG file");
  const { width, height } = size;
  if (width === 0 || height === 0) throw new ImageError(400, "the image has no pixels");
  if (width * height > maxPixels)
    throw new ImageError(413, `image is ${width}×${height} pixels; the limit is ${maxPixels} pixels`);
  const data = await ffmpegRgb(bytes);
  if (data.length !== width * height * 3) throw new ImageError(400, "the image could not be decoded");
  return { width, height, data };
}

function ffmpegRgb(bytes: Buffer): Promise<Uint8Array> {
  const args = [
    "-v",
    "error",
    "-i",
    "pipe:0",
    "-frames:v",
    "1",
    "-f",
    "rawvideo",
    "-pix_fmt",
    "rgb24",
    "pipe:1",
  ];
  return ffmpegPipe(args, bytes, (err) => new ImageError(400, `the image could not be decoded: ${err}`)).then(
    (b) => new Uint8Array(b),
  );
}

/** Runs ffmpeg (arguments as an array) with `input` on stdin; its stdout, or `fail(first stderr line)`. */
export function ffmpegPipe(args: string[], input: Buffer, fail: (err: string) => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn("ffmpeg", args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    p.stdout.on("data", (c: Buffer) => out.push(c));
    p.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    p.stdin.on("error", () => undefined); // ffmpeg may stop reading a broken file early
    p.on("error", (e) => reject(new Error(`ffmpeg could not run: ${e.message}`)));
    p.on("close", (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(fail(err.trim().split("\n")[0] ?? ""));
    });
    p.stdin.end(input);
  });
}
