import { describe, expect, it } from "vitest";
import type { CloudEvent } from "../../appliance/kit/index.js";
import { analyseSubmission, attachmentAnalysis } from "./forms-analyse.js";
import type { Ctx } from "./models.js";

describe("forms attachments' analysis", () => {
  it("picks images for OCR and audio for speech by name, nothing else", () => {
    expect(attachmentAnalysis("photo.JPG")).toBe("ocr");
    expect(attachmentAnalysis("scan.png")).toBe("ocr");
    expect(attachmentAnalysis("note.m4a")).toBe("vad");
    for (const n of ["clip.mp4", "data.csv", "png", ".png", "noext"])
      expect(attachmentAnalysis(n)).toBeNull();
  });

  it("ignores malformed, hostile, oversized or switched-off events without reading anything", async () => {
    const ctx = (on: boolean) => ({ config: { analyseUploads: on, analyseMaxBytes: 100 } }) as unknown as Ctx;
    const ev = (data: unknown) => ({ data }) as CloudEvent;
    const sha = "a".repeat(64);
    for (const data of [
      null,
      {},
      { id: "s1", formId: "f" },
      { id: "s1", formId: "f", attachments: "x" },
      { id: "s1", formId: "f", attachments: [null, { name: "a.png" }] },
      { id: "s1", formId: "f", attachments: [{ name: "a.png", sha256: "../../etc/passwd", size: 5 }] },
      { id: "s1", formId: "f", attachments: [{ name: "a.png", sha256: sha, size: 0 }] },
      { id: "s1", formId: "f", attachments: [{ name: "a.png", sha256: sha, size: 101 }] },
      { id: "s1", formId: "f", attachments: [{ name: "a.csv", sha256: sha, size: 5 }] },
    ])
      expect(await analyseSubmission(ctx(true), ev(data)), JSON.stringify(data)).toBe(0);
    const ok = { id: "s1", formId: "f", attachments: [{ name: "a.png", sha256: sha, size: 5 }] };
    expect(await analyseSubmission(ctx(false), ev(ok))).toBe(0);
  });
});
