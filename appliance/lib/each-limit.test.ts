import { describe, expect, it } from "vitest";
import { eachLimit } from "./each-limit.js";

const tick = () => new Promise((r) => setImmediate(r));

describe("eachLimit", () => {
  it("runs every item, never more than the limit at once", async () => {
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    await eachLimit([...Array(20).keys()], 4, async (n) => {
      running++;
      most = Math.max(most, running);
      await tick();
      seen.push(n);
      running--;
    });
    expect(seen.sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect(most).toBe(4);
  });

  it("stops at the first failure, waits for the calls in flight, then throws it", async () => {
    const started: number[] = [];
    let inFlight = 0;
    const run = eachLimit([...Array(10).keys()], 3, async (n) => {
      started.push(n);
      inFlight++;
      await tick();
      inFlight--;
      if (n === 1) throw new Error("boom 1");
    });
    await expect(run).rejects.toThrow("boom 1");
    expect(inFlight).toBe(0);
    expect(started.length).toBeLessThan(10);
  });

  it("does nothing for no items", async () => {
    await eachLimit([], 4, async () => {
      throw new Error("never");
    });
  });
});
