/** Audio in: any format ffmpeg reads, decoded (a separate process, arguments as an array) to 16 kHz mono float. */
import { spawn } from "node:child_process";
import { VAD_RATE } from "./vad.js";

/** Audio that cannot be used: empty, undecodable or too long. */
export class AudioError extends Error {
  constructor(
    readonly status: 400 | 413,
    message: string,
  ) {
    super(message);
    this.name = "AudioError";
  }
}

/** The samples of `bytes` at 16 kHz mono; at most `maxSeconds` (more → 413, decoding stops there). */
export function decodeAudio(bytes: Buffer, maxSeconds: number): Promise<Float32Array> {
  if (bytes.length === 0) return Promise.reject(new AudioError(400, "empty body: send an audio file"));
  const max = maxSeconds * VAD_RATE * 4;
  const args = [
    "-v",
    "error",
    "-i",
    "pipe:0",
    "-vn",
    "-ac",
    "1",
    "-ar",
    String(VAD_RATE),
    "-f",
    "f32le",
    "pipe:1",
  ];
  return new Promise((resolve, reject) => {
    const p = spawn("ffmpeg", args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let size = 0;
    let err = "";
    let tooLong = false;
    p.stdout.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        tooLong = true;
        p.kill("SIGKILL");
      } else out.push(c);
    });
    p.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    p.stdin.on("error", () => undefined);
    p.on("error", (e) => reject(new Error(`ffmpeg could not run: ${e.message}`)));
    p.on("close", (code) => {
      if (tooLong) return reject(new AudioError(413, `audio is longer than ${maxSeconds} s`));
      if (code !== 0)
        return reject(
          new AudioError(400, `the audio could not be decoded: ${err.trim().split("\n")[0] ?? ""}`),
        );
      const b = Buffer.concat(out);
      if (b.length < 4) return reject(new AudioError(400, "the audio has no samples"));
      resolve(new Float32Array(b.buffer, b.byteOffset, Math.floor(b.length / 4)).slice());
    });
    p.stdin.end(bytes);
  });
}
