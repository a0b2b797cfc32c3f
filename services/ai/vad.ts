/**
 * Voice activity with Silero VAD v5 (run inside an inference worker): 16 kHz mono, 512-sample frames with the
 * previous frame's last 64 samples prepended (v5 needs that context), the recurrent state carried from frame to
 * frame, and hysteresis: speech starts at `threshold`, ends after `minSilenceMs` under `threshold − 0.15`.
 */
import type { Tensor } from "onnxruntime-node";

export const VAD_RATE = 16_000;
const FRAME = 512;
const CONTEXT = 64;

export interface VadOptions {
  threshold: number;
  minSilenceMs: number;
  minSpeechMs: number;
  padMs: number;
}

// A pause shorter than 300 ms (a comma, a breath) stays inside the segment.
export const VAD_DEFAULTS: VadOptions = { threshold: 0.5, minSilenceMs: 300, minSpeechMs: 250, padMs: 30 };

export interface Segment {
  startMs: number;
  endMs: number;
}

type Exec = (path: string, feeds: Record<string, Tensor>) => Promise<Record<string, Tensor>>;
type TensorCtor = new (type: string, data: unknown, dims: number[]) => Tensor;

/** Speech probability of each 32 ms frame. */
export async function frameProbabilities(samples: Float32Array, path: string, exec: Exec, T: TensorCtor) {
  const probs: number[] = [];
  let state = new Float32Array(2 * 128);
  const sr = new T("int64", BigInt64Array.from([BigInt(VAD_RATE)]), []);
  const input = new Float32Array(CONTEXT + FRAME);
  for (let at = 0; at < samples.length; at += FRAME) {
    input.copyWithin(0, FRAME, FRAME + CONTEXT); // the last 64 samples of the previous frame
    input.fill(0, CONTEXT);
    input.set(samples.subarray(at, Math.min(at + FRAME, samples.length)), CONTEXT);
    const out = await exec(path, {
      input: new T("float32", input.slice(), [1, CONTEXT + FRAME]),
      state: new T("float32", state, [2, 1, 128]),
      sr,
    });
    const { output, stateN } = out as { output: Tensor; stateN: Tensor };
    probs.push((output.data as Float32Array)[0] as number);
    state = new Float32Array(stateN.data as Float32Array);
  }
  return probs;
}

/** Speech segments from per-frame probabilities (pure). */
export function segmentsOf(probs: number[], totalMs: number, o: VadOptions = VAD_DEFAULTS): Segment[] {
  const frameMs = (FRAME / VAD_RATE) * 1000;
  const off = o.threshold - 0.15;
  const out: Segment[] = [];
  let start = -1;
  let silentSince = -1;
  const close = (endMs: number) => {
    if (endMs - start >= o.minSpeechMs)
      out.push({ startMs: Math.max(0, start - o.padMs), endMs: Math.min(totalMs, endMs + o.padMs) });
    start = -1;
    silentSince = -1;
  };
  probs.forEach((p, i) => {
    const t = i * frameMs;
    if (start < 0) {
      if (p >= o.threshold) start = t;
      return;
    }
    if (p >= off) silentSince = -1;
    else {
      if (silentSince < 0) silentSince = t;
      if (t + frameMs - silentSince >= o.minSilenceMs) close(silentSince);
    }
  });
  if (start >= 0) close(silentSince >= 0 ? silentSince : totalMs);
  return out.map((s) => ({ startMs: Math.round(s.startMs), endMs: Math.round(s.endMs) }));
}
