/** The OCR post-processing as plain functions: DB boxes from a probability map, greedy CTC decoding. */
import { describe, expect, it } from "vitest";
import { ctcDecode, parseDict } from "./ctc.js";
import { dbBoxes } from "./db.js";

describe("dbBoxes", () => {
  it("finds one box per connected region above the threshold, grown by the unclip distance", () => {
    const w = 40;
    const h = 20;
    const prob = new Float32Array(w * h);
    const fill = (x0: number, y0: number, x1: number, y1: number, p: number) => {
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) prob[y * w + x] = p;
    };
    fill(2, 2, 12, 6, 0.9); // a word
    fill(20, 10, 36, 16, 0.8); // another
    fill(30, 2, 32, 4, 0.9); // 2×2: under the minimum size
    fill(14, 14, 18, 18, 0.4); // above the threshold but its mean score is under 0.6
    const boxes = dbBoxes(prob, w, h);
    expect(boxes).toHaveLength(2);
    const [a, b] = boxes;
    // 10×4 region: d = 40 × 1.5 / 28 ≈ 2.14
    expect(a?.x).toBeCloseTo(0, 5);
    expect(a?.y).toBeCloseTo(0, 5);
    expect(a?.w).toBeCloseTo(10 + 2 + 2.142857, 4);
    expect(a?.score).toBeCloseTo(0.9, 5);
    expect(b?.score).toBeCloseTo(0.8, 5);
  });
});

describe("ctcDecode", () => {
  it("collapses repeats, drops blanks, keeps a repeat split by a blank, averages confidence", () => {
    const dict = parseDict("a\nb\nc\n");
    expect(dict).toEqual(["a", "b", "c", " "]);
    const classes = 5; // blank + a b c + space
    const steps = [1, 1, 0, 1, 2, 4, 3];
    const probs = new Float32Array(steps.length * classes);
    steps.forEach((k, t) => {
      probs[t * classes + k] = 0.9;
    });
    const r = ctcDecode(probs, steps.length, classes, dict);
    expect(r.text).toBe("aab c");
    expect(r.confidence).toBeCloseTo(0.9, 5);
  });
});
