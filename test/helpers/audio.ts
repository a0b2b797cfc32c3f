/**
 * Test media for the AI service: speech spoken by espeak-ng between silences, as a 16 kHz 16-bit WAV, with
 * where the speech is; images of known text and a drawn face, by ImageMagick.
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

/** A PDF written by hand (Helvetica 36 pt, one short page per entry, each line of a page below the last). */
export function textPdf(pages: string[][]): Buffer {
  const objs: string[] = [];
  const pageIds = pages.map((_, i) => 4 + i * 2);
  objs[1] = "<< /Type /Catalog /Pages 2 0 R >>";
  objs[2] = `<< /Type /Pages /Kids [${pageIds.map((id) => `${id} 0 R`).join(" ")}] /Count ${pages.length} >>`;
  objs[3] = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";
  pages.forEach((lines, i) => {
    const text = lines.map((l, j) => `BT /F1 36 Tf 30 ${150 - j * 60} Td (${l}) Tj ET`).join("\n");
    objs[4 + i * 2] =
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 200] /Resources << /Font << /F1 3 0 R >> >> /Contents ${5 + i * 2} 0 R >>`;
    objs[5 + i * 2] = `<< /Length ${text.length} >>\nstream\n${text}\nendstream`;
  });
  let out = "%PDF-1.4\n";
  const offsets: number[] = [];
  for (let id = 1; id < objs.length; id++) {
    offsets[id] = out.length;
    out += `${id} 0 obj\n${objs[id]}\nendobj\n`;
  }
  const xref = out.length;
  out += `xref\n0 ${objs.length}\n0000000000 65535 f \n`;
  for (let id = 1; id < objs.length; id++) out += `${String(offsets[id]).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objs.length} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

/** A 320×320 drawn face, centred at (160, 170), about 140×185 px, blurred a little like a photo. */
export function drawnFace(): Buffer {
  const d = (s: string) => ["-draw", s];
  return execFileSync(
    "convert",
    [
      ["-size", "320x320", "xc:#8fb4d8", "-fill", "#e0ac8a"],
      d("ellipse 160,170 70,92 0,360"),
      ["-fill", "#3a2a1a"],
      d("ellipse 160,95 74,40 180,360"),
      ["-fill", "white"],
      d("ellipse 132,155 14,8 0,360"),
      d("ellipse 188,155 14,8 0,360"),
      ["-fill", "#2a1a10"],
      d("circle 132,155 138,155"),
      d("circle 188,155 194,155"),
      ["-stroke", "#5a3a2a", "-strokewidth", "4"],
      d("line 118,138 146,136"),
      d("line 174,136 202,138"),
      ["-stroke", "none", "-fill", "#c48a6a"],
      d("polygon 160,160 150,195 170,195"),
      ["-fill", "#a03a3a"],
      d("ellipse 160,220 24,9 0,360"),
      ["-blur", "0x2", "png:-"],
    ].flat(),
  );
}
