/** Speech segments from Silero's per-frame probabilities (32 ms frames): hysteresis, short pauses, padding. */
import { describe, expect, it } from "vitest";
import { segmentsOf } from "./vad.js";

const frames = (spec: [number, number][]) => spec.flatMap(([p, n]) => Array<number>(n).fill(p));

describe("segmentsOf", () => {
  it("turns runs of speech into segments, bridging pauses under 300 ms, padded by 30 ms", () => {
    // 1 s silence, 1 s speech, 5 frames (160 ms) pause, 0.5 s speech, 1 s silence, 5 frames of speech (too short)
    const probs = frames([
      [0.05, 31],
      [0.9, 31],
      [0.1, 5],
      [0.8, 16],
      [0.05, 31],
      [0.9, 5],
      [0.05, 31],
    ]);
    const segs = segmentsOf(probs, probs.length * 32);
    expect(segs).toHaveLength(1);
    expect(segs[0]?.startMs).toBe(31 * 32 - 30);
    expect(segs[0]?.endMs).toBe((31 + 31 + 5 + 16) * 32 + 30);
  });

  it("keeps values between the two thresholds inside speech, and closes speech still open at the end", () => {
    const probs = frames([
      [0.1, 10],
      [0.6, 20],
      [0.4, 20],
    ]);
    expect(segmentsOf(probs, 50 * 32)).toEqual([{ startMs: 10 * 32 - 30, endMs: 50 * 32 }]);
  });
});
