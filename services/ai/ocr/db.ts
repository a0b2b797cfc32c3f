/**
 * DB (differentiable binarisation) post-processing of the detector's probability map: threshold, connected
 * components, a box and mean score per component, boxes grown back by the shrink ratio the model was trained
 * with ("unclip": distance = area × 1.5 / perimeter). Axis-aligned boxes: enough for documents and screens.
 */
import type { Region } from "./tensor.js";

export interface DbOptions {
  threshold: number;
  boxThreshold: number;
  unclipRatio: number;
  minSize: number;
}

export const DB_DEFAULTS: DbOptions = { threshold: 0.3, boxThreshold: 0.6, unclipRatio: 1.5, minSize: 3 };

/** Boxes (in map pixels) with their mean probability, from a `w`×`h` probability map. */
export function dbBoxes(prob: Float32Array, w: number, h: number, o: DbOptions = DB_DEFAULTS) {
  const seen = new Uint8Array(w * h);
  const boxes: (Region & { score: number })[] = [];
  const stack: number[] = [];
  for (let start = 0; start < w * h; start++) {
    if (seen[start] || (prob[start] as number) <= o.threshold) continue;
    let minX = w;
    let minY = h;
    let maxX = 0;
    let maxY = 0;
    let sum = 0;
    let n = 0;
    seen[start] = 1;
    stack.push(start);
    while (stack.length > 0) {
      const i = stack.pop() as number;
      const x = i % w;
      const y = (i - x) / w;
      sum += prob[i] as number;
      n++;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
      for (const j of [
        x > 0 ? i - 1 : -1,
        x < w - 1 ? i + 1 : -1,
        y > 0 ? i - w : -1,
        y < h - 1 ? i + w : -1,
      ]) {
        if (j >= 0 && !seen[j] && (prob[j] as number) > o.threshold) {
          seen[j] = 1;
          stack.push(j);
        }
      }
    }
    const bw = maxX - minX + 1;
    const bh = maxY - minY + 1;
    if (Math.min(bw, bh) < o.minSize || sum / n < o.boxThreshold) continue;
    const d = (bw * bh * o.unclipRatio) / (2 * (bw + bh));
    const x0 = Math.max(0, minX - d);
    const y0 = Math.max(0, minY - d);
    const x1 = Math.min(w, maxX + 1 + d);
    const y1 = Math.min(h, maxY + 1 + d);
    boxes.push({ x: x0, y: y0, w: x1 - x0, h: y1 - y0, score: sum / n });
  }
  return boxes;
}
