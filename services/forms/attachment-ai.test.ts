import { describe, expect, it } from "vitest";
import { parseAnalysed } from "./attachment-ai.js";

const good = {
  submissionId: "s1",
  formId: "meter",
  name: "photo.png",
  sha256: "a".repeat(64),
  metadata: { "ai.ocrText": "METER 4711", "ai.faces": 0 },
};

describe("parseAnalysed", () => {
  it("takes a well-formed ai.attachment.analysed event", () => {
    expect(parseAnalysed(good)).toEqual(good);
  });

  it.each([
    ["no data", null],
    ["a bad sha256", { ...good, sha256: "../x" }],
    ["a key outside ai.*", { ...good, metadata: { owner: "mallory" } }],
    ["an oversized value", { ...good, metadata: { "ai.ocrText": "x".repeat(2049) } }],
    ["an object value", { ...good, metadata: { "ai.x": { a: 1 } } }],
    [
      "too many keys",
      { ...good, metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`ai.k${i}`, i])) },
    ],
    ["no submission", { ...good, submissionId: "" }],
  ])("drops an event with %s", (_, data) => {
    expect(parseAnalysed(data)).toBeNull();
  });
});
