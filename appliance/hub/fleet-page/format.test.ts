import { describe, expect, it } from "vitest";
import { ago, count, seconds } from "./format.js";

describe("fleet page formatting", () => {
  const now = Date.parse("2026-01-02T00:00:00Z");
  it.each([
    [null, "never"],
    ["2026-01-01T23:59:48Z", "12 s ago"],
    ["2026-01-01T23:57:00Z", "3 min ago"],
    ["2026-01-01T19:00:00Z", "5 h ago"],
    ["2025-12-31T00:00:00Z", "2 d ago"],
    ["2026-01-02T00:00:05Z", "0 s ago"],
  ])("ago(%s) is %s", (iso, text) => expect(ago(iso, now)).toBe(text));

  it("writes counts and seconds, a dash when the hub has none", () => {
    expect([count(12345), count(0), count(null)]).toEqual(["12,345", "0", "—"]);
    expect([seconds(2.345), seconds(75.6), seconds(undefined)]).toEqual(["2.3 s", "76 s", "—"]);
  });
});
