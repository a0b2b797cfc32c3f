/**
 * Waveform peaks: ffmpeg decodes the audio to mono 8-bit samples at a low rate on stdout; each of `points`
 * buckets keeps its largest amplitude (0..1). Memory stays constant whatever the length.
 */
import { peaksArgs } from "./ffmpeg/args.js";
import { type RunLimits, runFfmpeg } from "./ffmpeg/run.js";

export interface Waveform {
  version: 1;
  sampleRate: number;
  durationSeconds: number;
  peaks: number[];
}

const RATE = 2000;

/** Computes the waveform of `input`'s first audio stream. */
export async function peaksOf(
  ffmpeg: string,
  input: string,
  cwd: string,
  limits: RunLimits,
  durationSeconds: number,
  points: number,
  hooks: { onPid(pid: number): void; signal: AbortSignal },
): Promise<Waveform> {
  const total = Math.max(1, Math.ceil(durationSeconds * RATE));
  const perBucket = Math.max(1, Math.ceil(total / points));
  const peaks: number[] = [];
  let seen = 0;
  let max = 0;
  await runFfmpeg({
    bin: ffmpeg,
    args: peaksArgs(input, RATE),
    cwd,
    limits,
    onPid: hooks.onPid,
    signal: hooks.signal,
    stdout: (chunk) => {
      for (const b of chunk) {
        max = Math.max(max, Math.abs(b - 128));
        if (++seen % perBucket === 0) {
          peaks.push(Math.round((max / 128) * 1000) / 1000);
          max = 0;
        }
      }
    },
  });
  if (seen % perBucket !== 0) peaks.push(Math.round((max / 128) * 1000) / 1000);
  return { version: 1, sampleRate: RATE, durationSeconds, peaks };
}
