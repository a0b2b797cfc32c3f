import { describe, expect, it } from "vitest";
import { detectionMetadata } from "./detect-metadata.js";

const box = { x: 0, y: 0, width: 1, height: 1 };
const d = (label: string, score: number) => ({ label, score, box });

describe("detectionMetadata", () => {
  it("counts each label with its best score, most frequent first, and counts faces", () => {
    const m = detectionMetadata({
      objects: [d("car", 0.55), d("person", 0.7), d("person", 0.912), d("dog", 0.8)],
      faces: [d("face", 0.9), d("face", 0.8)],
    });
    expect(m).toEqual({ "ai.objects": "person 2 (0.91), dog 1 (0.80), car 1 (0.55)", "ai.faces": 2 });
  });

  it("is empty for nothing found, and stays within a metadata value's 2048 characters", () => {
    expect(detectionMetadata({})).toEqual({ "ai.objects": "", "ai.faces": 0 });
    const many = Array.from({ length: 400 }, (_, i) => d(`label-with-a-long-name-${i}`, 0.5));
    const m = detectionMetadata({ objects: many });
    expect(m["ai.objects"].length).toBeLessThanOrEqual(2048);
    expect(m["ai.objects"]).toMatch(/\(0\.50\)$/);
  });
});
