import { describe, expect, it } from "vitest";
import { DEFAULT_SCHEDULE, isCron, nextRun, parseCron } from "./schedule.js";

/** Local-time date from "YYYY-MM-DD HH:MM". */
const at = (s: string) => {
  const [d, t] = s.split(" ");
  const [y, mo, day] = d!.split("-").map(Number);
  const [h, mi] = t!.split(":").map(Number);
  return new Date(y!, mo! - 1, day, h, mi);
};
const fmt = (d: Date | null) =>
  d &&
  `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")} ${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;

describe("nextRun", () => {
  it.each([
    [DEFAULT_SCHEDULE, "2026-12-07 15:29", "2026-12-08 02:30"],
    [DEFAULT_SCHEDULE, "2026-12-07 02:29", "2026-12-07 02:30"],
    [DEFAULT_SCHEDULE, "2026-12-07 02:30", "2026-12-08 02:30"],
    [DEFAULT_SCHEDULE, "2026-12-31 03:00", "2027-01-01 02:30"],
    ["*/15 * * * *", "2026-12-07 10:07", "2026-12-07 10:15"],
    ["*/15 * * * *", "2026-12-07 10:59", "2026-12-07 11:00"],
    ["0 */6 * * *", "2026-12-07 13:00", "2026-12-07 18:00"],
    ["0 3 * * 0", "2026-12-07 10:00", "2026-12-13 03:00"], // Sunday
    ["0 3 * * 7", "2026-12-07 10:00", "2026-12-13 03:00"], // 7 is Sunday too
    ["0 3 * * 1-5", "2026-12-11 04:00", "2026-12-14 03:00"], // Fri after → Mon
    ["0 0 1 * *", "2026-12-07 00:00", "2027-01-01 00:00"],
    ["0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"], // leap day
    ["0 0 13 * 5", "2026-12-07 00:00", "2026-12-11 00:00"], // 13th OR Friday (Vixie cron)
    ["5,35 1-2 * * *", "2026-12-07 01:35", "2026-12-07 02:05"],
    ["0 12 * 6 *", "2026-12-07 00:00", "2027-06-01 12:00"],
  ])("%s after %s → %s", (cron, after, expected) => {
    expect(fmt(nextRun(parseCron(cron), at(after)))).toBe(expected);
  });

  it("gives null for a date that never comes", () => {
    expect(nextRun(parseCron("0 0 31 2 *"), at("2026-01-01 00:00"))).toBeNull();
  });
});

describe("parseCron", () => {
  it.each([
    ["", /5 fields/],
    ["* * * *", /5 fields/],
    ["60 * * * *", /minute/],
    ["* 24 * * *", /hour/],
    ["* * 0 * *", /day of month/],
    ["* * * 13 *", /month/],
    ["* * * * 8", /day of week/],
    ["5-1 * * * *", /minute/],
    ["*/0 * * * *", /minute/],
    ["a * * * *", /minute/],
    ["1;rm * * * *", /minute/],
  ])("refuses %j", (cron, message) => {
    expect(() => parseCron(cron)).toThrow(message);
    expect(isCron(cron)).toBe(false);
  });
});
