/** compareBytes (appliance/hub/apply-order.ts) orders strings exactly as their UTF-8 bytes, surrogates included. */
import { describe, expect, it } from "vitest";
import { compareBytes } from "../../appliance/hub/apply-order.js";

const sign = (n: number) => Math.sign(n);
const bytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

describe("compareBytes", () => {
  it("agrees with a byte comparison of the UTF-8, where UTF-16 order does not", () => {
    // U+FF5E sorts before U+1F600 in UTF-8 but after its surrogate pair in UTF-16.
    const cases: [string, string][] = [
      ["a", "b"],
      ["ab", "a"],
      ["", "a"],
      ["same", "same"],
      ["\uff5e", "😀"],
      ["x😀", "x\ue000"],
      ["😀", "😁"],
      ["é", "z"],
      ["\ud800", "\ud801"], // lone surrogates: both encode as U+FFFD
    ];
    for (const [a, b] of cases) {
      expect(sign(compareBytes(a, b)), `${a} vs ${b}`).toBe(sign(bytes(a, b)));
      expect(sign(compareBytes(b, a)), `${b} vs ${a}`).toBe(sign(bytes(b, a)));
    }
  });

  it("matches on random strings over ASCII, BMP and astral characters", () => {
    const alphabet = ["a", "b", "Z", "0", "é", "中", "\uffff", "\ue000", "😀", "𝄞"];
    const pick = () =>
      Array.from(
        { length: Math.floor(Math.random() * 5) },
        () => alphabet[Math.floor(Math.random() * 10)],
      ).join("");
    for (let i = 0; i < 2000; i++) {
      const a = pick();
      const b = pick();
      expect(sign(compareBytes(a, b))).toBe(sign(bytes(a, b)));
    }
  });
});
