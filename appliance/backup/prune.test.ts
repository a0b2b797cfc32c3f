import { describe, expect, it } from "vitest";
import { planRetention } from "./prune.js";

const at = (iso: string) => ({ id: iso, createdAt: iso });
// Newest first. Dec 7 2026 is a Monday (ISO week 50); Dec 6 and Dec 2 are week 49, Nov 25 week 48.
const backups = [
  at("2026-12-07T12:00:00.000Z"),
  at("2026-12-07T03:00:00.000Z"),
  at("2026-12-06T03:00:00.000Z"),
  at("2026-12-02T03:00:00.000Z"),
  at("2026-11-25T03:00:00.000Z"),
];

describe("planRetention", () => {
  it.each([
    { policy: { keepLast: 0, keepDaily: 0, keepWeekly: 0 }, kept: [] },
    { policy: { keepLast: 1, keepDaily: 0, keepWeekly: 0 }, kept: [0] },
    { policy: { keepLast: 2, keepDaily: 0, keepWeekly: 0 }, kept: [0, 1] },
    { policy: { keepLast: 0, keepDaily: 2, keepWeekly: 0 }, kept: [0, 2] },
    { policy: { keepLast: 0, keepDaily: 10, keepWeekly: 0 }, kept: [0, 2, 3, 4] },
    { policy: { keepLast: 0, keepDaily: 0, keepWeekly: 2 }, kept: [0, 2] },
    { policy: { keepLast: 0, keepDaily: 0, keepWeekly: 5 }, kept: [0, 2, 4] },
    { policy: { keepLast: 2, keepDaily: 3, keepWeekly: 0 }, kept: [0, 1, 2, 3] },
    { policy: { keepLast: 1, keepDaily: 1, keepWeekly: 3 }, kept: [0, 2, 4] },
    { policy: { keepLast: 99, keepDaily: 0, keepWeekly: 0 }, kept: [0, 1, 2, 3, 4] },
  ])("$policy keeps $kept", ({ policy, kept }) => {
    const plan = planRetention([...backups].reverse(), policy);
    expect(plan.kept).toEqual(kept.map((i) => backups[i]!.id));
    expect(plan.removed).toEqual(backups.filter((_, i) => !kept.includes(i)).map((b) => b.id));
  });

  it("keeps nothing of an empty list", () => {
    expect(planRetention([], { keepLast: 3, keepDaily: 3, keepWeekly: 3 })).toEqual({
      kept: [],
      removed: [],
    });
  });
});
