/**
 * Face blur: each box pixelated (blocks of a tenth of its larger side, at least 8 px) in the decoded RGB, then
 * the image encoded again by ffmpeg (PNG or JPEG, arguments as an array). Pixelation with blocks that large
 * cannot be undone the way a light Gaussian blur sometimes can.
 */
import type { Box } from "./detect-post.js";
import { ffmpegPipe, type Rgb } from "./image.js";

/** Pixelates `boxes` (grown by 10 % each side) in place; returns the image. */
export function pixelate(img: Rgb, boxes: Box[]): Rgb {
  const { width, height, data } = img;
  for (const b of boxes) {
    const gx = Math.round(b.width * 0.1);
    const gy = Math.round(b.height * 0.1);
    const x0 = Math.max(0, b.x - gx);
    const y0 = Math.max(0, b.y - gy);
    const x1 = Math.min(width, b.x + b.width + gx);
    const y1 = Math.min(height, b.y + b.height + gy);
    const block = Math.max(8, Math.round(Math.max(x1 - x0, y1 - y0) / 10));
    for (let by = y0; by < y1; by += block)
      for (let bx = x0; bx < x1; bx += block) {
        const ey = Math.min(y1, by + block);
        const ex = Math.min(x1, bx + block);
        const sum = [0, 0, 0];
        for (let y = by; y < ey; y++)
          for (let x = bx; x < ex; x++)
            for (let c = 0; c < 3; c++)
              sum[c] = (sum[c] as number) + (data[(y * width + x) * 3 + c] as number);
        const n = (ey - by) * (ex - bx);
        const mean = sum.map((s) => Math.round(s / n));
        for (let y = by; y < ey; y++)
          for (let x = bx; x < ex; x++)
            for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = mean[c] as number;
      }
  }
  return img;
}

/** RGB → PNG or JPEG bytes. */
export function encodeImage(img: Rgb, format: "png" | "jpeg"): Promise<Buffer> {
  const args = ["-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", `${img.width}x${img.height}`];
  args.push("-i", "pipe:0", "-frames:v", "1");
  if (format === "jpeg") args.push("-q:v", "3", "-f", "mjpeg", "-pix_fmt", "yuvj420p", "pipe:1");
  else args.push("-f", "image2pipe", "-c:v", "png", "pipe:1");
  const raw = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length);
  return ffmpegPipe(args, raw, (err) => new Error(`encoding failed: ${err}`));
}
