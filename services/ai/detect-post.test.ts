import { describe, expect, it } from "vitest";
import { pixelate } from "./blur.js";
import { COCO_LABELS, decodeFaces, decodeObjects, faceAnchors, nms } from "./detect-post.js";

const opts = { minScore: 0.3, iou: 0.4, maxResults: 10 };

describe("detection post-processing", () => {
  it("keeps the best of overlapping boxes, drops low scores, stops at maxResults", () => {
    const b = (score: number, x1: number) => ({ score, x1, y1: 0, x2: x1 + 10, y2: 10, cls: 0 });
    const kept = nms([b(0.5, 0), b(0.9, 1), b(0.8, 50), b(0.1, 100)], opts);
    expect(kept.map((k) => k.score)).toEqual([0.9, 0.8]);
    expect(nms([b(0.9, 0), b(0.8, 50)], { ...opts, maxResults: 1 })).toHaveLength(1);
  });

  it("decodes CenterNet rows into COCO labels in image pixels, skipping unknown classes", () => {
    const rows = [256, 128, 512, 384, 0.9, 2, 0, 0, 10, 10, 0.95, Number.NaN, 0, 0, 10, 10, 0.2, 0];
    const [car, ...rest] = decodeObjects(rows, 1024, 512, opts);
    expect(rest).toEqual([]);
    expect(car).toEqual({ label: "car", score: 0.9, box: { x: 512, y: 128, width: 512, height: 256 } });
    expect(COCO_LABELS).toHaveLength(80);
  });

  it("decodes BlazeFace anchors: 896 of them, offsets and sizes around each anchor", () => {
    const anchors = faceAnchors();
    expect(anchors).toHaveLength(896);
    expect(anchors[0]).toEqual([8, 8]);
    expect(anchors[512]).toEqual([16, 16]);
    const logits = new Float32Array(896).fill(-10);
    const reg = new Float32Array(896 * 16);
    logits[0] = 10; // anchor (8, 8), a 16×16 box shifted by (+4, +2)
    reg.set([4, 2, 16, 16], 0);
    const faces = decodeFaces(logits, reg, 512, 256, opts);
    expect(faces).toEqual([{ label: "face", score: 1, box: { x: 8, y: 2, width: 32, height: 16 } }]);
  });

  it("pixelates a box into flat blocks and leaves the rest alone", () => {
    const width = 40;
    const data = new Uint8Array(width * width * 3).map((_, i) => (i * 37) % 251);
    const copy = data.slice();
    pixelate({ width, height: width, data }, [{ x: 0, y: 0, width: 16, height: 16 }]);
    expect(data[0]).toBe(data[3]); // one block
    expect(data.subarray(30 * width * 3)).toEqual(copy.subarray(30 * width * 3));
  });
});
