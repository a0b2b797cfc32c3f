/**
 * Test media for the AI service: speech spoken by espeak-ng between silences, as a 16 kHz 16-bit WAV, with
 * where the speech is; images of known text drawn by ImageMagick.
 */
import { execFileSync } from "node:child_process";

const RATE = 16_000;

/** espeak-ng's voice saying `text`, as 16 kHz mono samples. */
function spoken(text: string): Float32Array {
  const wav = execFileSync("espeak-ng", ["--stdout", text]);
  const pcm = execFileSync(
    "ffmpeg",
    ["-v", "error", "-i", "pipe:0", "-ac", "1", "-ar", String(RATE), "-f", "f32le", "pipe:1"],
    {
      input: wav,
    },
  );
  return new Float32Array(pcm.buffer, pcm.byteOffset, pcm.length / 4).slice();
}

/** A WAV of silences and phrases (`number`: seconds of silence; `string`: spoken), and the truth in ms. */
export function speechWav(parts: (number | string)[]): {
  wav: Buffer;
  truth: { startMs: number; endMs: number }[];
} {
  const chunks: Float32Array[] = [];
  const truth: { startMs: number; endMs: number }[] = [];
  let at = 0;
  for (const part of parts) {
    const samples = typeof part === "number" ? new Float32Array(Math.round(part * RATE)) : spoken(part);
    if (typeof part === "string") {
      const loud = (i: number) => Math.abs(samples[i] as number) > 0.02;
      let first = 0;
      while (first < samples.length && !loud(first)) first++;
      let last = samples.length - 1;
      while (last > first && !loud(last)) last--;
      truth.push({ startMs: ((at + first) / RATE) * 1000, endMs: ((at + last) / RATE) * 1000 });
    }
    chunks.push(samples);
    at += samples.length;
  }
  const wav = Buffer.alloc(44 + at * 2);
  wav.write("RIFF", 0, "ascii");
  wav.writeUInt32LE(36 + at * 2, 4);
  wav.write("WAVEfmt ", 8, "ascii");
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(RATE, 24);
  wav.writeUInt32LE(RATE * 2, 28);
  wav.writeUInt16LE(2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write("data", 36, "ascii");
  wav.writeUInt32LE(at * 2, 40);
  let o = 44;
  for (const c of chunks) {
    for (const v of c) {
      wav.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v * 32767))), o);
      o += 2;
    }
  }
  return { wav, truth };
}

const FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/** A PNG with `lines` of text drawn by ImageMagick (40 pt DejaVu Sans, black on white). */
export function textImage(lines: string[], size = "800x300"): Buffer {
  return execFileSync("convert", [
    "-size",
    size,
    "xc:white",
    "-font",
    FONT,
    "-fill",
    "black",
    "-pointsize",
    "40",
    "-annotate",
    "+30+80",
    lines.join("\n"),
    "png:-",
  ]);
}
