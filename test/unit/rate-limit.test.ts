/** RateLimiter with an injected clock: fixed windows per key, retry-after, sweeping. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { RateLimiter } from "../../appliance/gateway/rate-limit.js";

/** A clock the test moves by hand. */
function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

const limiters: RateLimiter[] = [];
function limiter(max: number, windowMs: number, now: () => number) {
  const l = new RateLimiter(max, windowMs, now);
  limiters.push(l);
  return l;
}

afterEach(() => {
  for (const l of limiters.splice(0)) l.close();
  vi.useRealTimers();
});

describe("RateLimiter", () => {
  it("allows max hits per window, then refuses, counting remaining down", () => {
    const c = clock();
    const l = limiter(3, 60_000, c.now);
    expect(l.hit("a")).toEqual({ allowed: true, remaining: 2, retryAfterSeconds: 60 });
    expect(l.hit("a")).toEqual({ allowed: true, remaining: 1, retryAfterSeconds: 60 });
    expect(l.hit("a")).toEqual({ allowed: true, remaining: 0, retryAfterSeconds: 60 });
    expect(l.hit("a")).toEqual({ allowed: false, remaining: 0, retryAfterSeconds: 60 });
    expect(l.hit("a").allowed).toBe(false);
  });

  it.each([
    // [ms into the window, expected retry-after seconds]
    [0, 60],
    [1, 60],
    [999, 60],
    [1000, 59],
    [30_500, 30],
    [59_000, 1],
    [59_001, 1],
    [59_999, 1],
  ])("retry-after %i ms into a 60 s window is %i s", (elapsed, expected) => {
    const c = clock();
    const l = limiter(1, 60_000, c.now);
    l.hit("a");
    c.advance(elapsed);
    const r = l.hit("a");
    expect(r.allowed).toBe(false);
    expect(r.retryAfterSeconds).toBe(expected);
  });

  it("never tells a client to retry after 0 seconds, even for sub-second windows", () => {
    const c = clock();
    const l = limiter(1, 200, c.now);
    for (let i = 0; i < 200; i++) {
      const r = l.hit("a");
      expect(r.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      c.advance(7);
    }
  });

  it("resets exactly when the window ends", () => {
    const c = clock();
    const l = limiter(2, 10_000, c.now);
    l.hit("a");
    l.hit("a");
    c.advance(9_999);
    expect(l.hit("a").allowed).toBe(false);
    c.advance(1);
    expect(l.hit("a")).toEqual({ allowed: true, remaining: 1, retryAfterSeconds: 10 });
    expect(l.hit("a").allowed).toBe(true);
    expect(l.hit("a").allowed).toBe(false);
  });

  it("does not let refused hits push the window further out", () => {
    const c = clock();
    const l = limiter(1, 10_000, c.now);
    l.hit("a");
    for (let i = 0; i < 100; i++) {
      expect(l.hit("a").allowed).toBe(false);
      c.advance(99);
    }
    c.advance(10_000 - 100 * 99);
    expect(l.hit("a").allowed).toBe(true);
  });

  it("keeps keys apart", () => {
    const c = clock();
    const l = limiter(2, 60_000, c.now);
    l.hit("10.0.0.1");
    l.hit("10.0.0.1");
    expect(l.hit("10.0.0.1").allowed).toBe(false);
    expect(l.hit("10.0.0.2")).toEqual({ allowed: true, remaining: 1, retryAfterSeconds: 60 });
    expect(l.hit("::1").allowed).toBe(true);
    expect(l.hit("unknown").allowed).toBe(true);
    // Each key has its own window start.
    c.advance(30_000);
    expect(l.hit("10.0.0.3").retryAfterSeconds).toBe(60);
    expect(l.hit("10.0.0.1").retryAfterSeconds).toBe(30);
    c.advance(30_000);
    expect(l.hit("10.0.0.1").allowed).toBe(true);
    // 10.0.0.3's window started 30 s later: its second hit is allowed, its third is not.
    expect(l.hit("10.0.0.3").allowed).toBe(true);
    expect(l.hit("10.0.0.3").allowed).toBe(false);
  });

  it("does not mistake one key for a prefix or case variant of another", () => {
    const c = clock();
    const l = limiter(1, 60_000, c.now);
    l.hit("127.0.0.1");
    expect(l.hit("127.0.0.1").allowed).toBe(false);
    for (const k of [
      "127.0.0.11",
      "127.0.0.",
      "::ffff:127.0.0.1",
      "127.0.0.1 ",
      "__proto__",
      "constructor",
    ]) {
      expect(l.hit(k).allowed, k).toBe(true);
    }
  });

  it("sweeps expired windows so the map stays bounded", () => {
    vi.useFakeTimers();
    const c = clock();
    const l = limiter(5, 1000, c.now);
    for (let i = 0; i < 500; i++) l.hit(`10.0.${i >> 8}.${i & 255}`);
    expect(l.size).toBe(500);
    c.advance(500);
    l.hit("late");
    vi.advanceTimersByTime(1000);
    expect(l.size).toBe(501);
    c.advance(500);
    vi.advanceTimersByTime(1000);
    // Everything but "late" has expired; "late" runs until 1500 ms.
    expect(l.size).toBe(1);
    c.advance(500);
    vi.advanceTimersByTime(1000);
    expect(l.size).toBe(0);
  });

  it("stops its sweeper on close", () => {
    vi.useFakeTimers();
    const before = vi.getTimerCount();
    const l = new RateLimiter(1, 1000, clock().now);
    expect(vi.getTimerCount()).toBe(before + 1);
    l.close();
    expect(vi.getTimerCount()).toBe(before);
  });
});
