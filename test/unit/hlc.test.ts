import { describe, expect, it } from "vitest";
import { compareHlc, decodeHlc, encodeHlc, Hlc, HlcDriftError, isHlc } from "../../appliance/sync/hlc.js";

/** A clock the test moves by hand. */
function manualClock(start: number) {
  let t = start;
  return { now: () => t, set: (v: number) => (t = v), add: (d: number) => (t += d) };
}

/** A tiny seeded PRNG (mulberry32), so a failing sequence can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("encodeHlc / decodeHlc", () => {
  it("pads to fixed widths and round-trips", () => {
    const ts = { wall: 1_763_769_600_123, counter: 42, node: "site-1" };
    const s = encodeHlc(ts);
    expect(s).toBe("001763769600123.00042.site-1");
    expect(decodeHlc(s)).toEqual(ts);
  });

  it.each([
    { wall: 0, counter: 0, node: "a" },
    { wall: 999_999_999_999_999, counter: 99_999, node: "z9" },
    { wall: 1, counter: 1, node: `a${"-".repeat(62)}` },
  ])("round-trips the edges %o", (ts) => expect(decodeHlc(encodeHlc(ts))).toEqual(ts));

  it.each([
    { wall: -1, counter: 0, node: "a" },
    { wall: 1.5, counter: 0, node: "a" },
    { wall: 1_000_000_000_000_000, counter: 0, node: "a" },
    { wall: 1, counter: 100_000, node: "a" },
    { wall: 1, counter: -1, node: "a" },
    { wall: 1, counter: 0, node: "" },
    { wall: 1, counter: 0, node: "A" },
    { wall: 1, counter: 0, node: "a.b" },
    { wall: 1, counter: 0, node: "-a" },
    { wall: 1, counter: 0, node: "a".repeat(64) },
  ])("refuses to encode %o", (ts) => expect(() => encodeHlc(ts)).toThrow(RangeError));

  it.each([
    "",
    "1763769600123.00042.site",
    "001763769600123.0042.site",
    "001763769600123.00042.",
    "001763769600123.00042.Site",
    "001763769600123.00042.si.te",
    "001763769600123.00042.site\n",
    " 001763769600123.00042.site",
    "00176376960012a.00042.site",
    "+01763769600123.00042.site",
    "001763769600123-00042-site",
    `001763769600123.00042.${"a".repeat(64)}`,
  ])("decodeHlc throws on %j", (s) => {
    expect(() => decodeHlc(s)).toThrow(/malformed/);
    expect(isHlc(s)).toBe(false);
  });

  it("decodeHlc throws on non-strings from untrusted JSON", () => {
    for (const v of [null, undefined, 42, {}, ["x"]])
      expect(() => decodeHlc(v as unknown as string)).toThrow();
  });
});

describe("compareHlc", () => {
  const ts = (wall: number, counter: number, node = "a") => encodeHlc({ wall, counter, node });

  it("orders by wall, then counter, then node", () => {
    expect(compareHlc(ts(1, 9), ts(2, 0))).toBe(-1);
    expect(compareHlc(ts(2, 0), ts(1, 9))).toBe(1);
    expect(compareHlc(ts(5, 1), ts(5, 2))).toBe(-1);
    expect(compareHlc(ts(5, 1, "a"), ts(5, 1, "b"))).toBe(-1);
    expect(compareHlc(ts(5, 1, "a"), ts(5, 1, "a"))).toBe(0);
  });

  it("agrees with plain string order on random timestamps", () => {
    const r = rng(7);
    const nodes = ["a", "a-b", "ab", "b", "z0"];
    const list = Array.from({ length: 2000 }, () =>
      ts(Math.floor(r() * 1e13), Math.floor(r() * 3), nodes[Math.floor(r() * nodes.length)]),
    );
    const byFields = [...list].sort((x, y) => {
      const a = decodeHlc(x);
      const b = decodeHlc(y);
      return a.wall - b.wall || a.counter - b.counter || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0);
    });
    expect([...list].sort(compareHlc)).toEqual(byFields);
    expect([...list].sort()).toEqual(byFields);
  });

  it("throws on malformed input", () => {
    expect(() => compareHlc("x", ts(1, 0))).toThrow(/malformed/);
    expect(() => compareHlc(ts(1, 0), "")).toThrow(/malformed/);
  });
});

describe("Hlc", () => {
  it("follows the wall clock and resets the counter when it moves on", () => {
    const c = manualClock(1000);
    const h = new Hlc("edge", { now: c.now });
    expect(h.now()).toBe(encodeHlc({ wall: 1000, counter: 0, node: "edge" }));
    c.set(1005);
    expect(h.now()).toBe(encodeHlc({ wall: 1005, counter: 0, node: "edge" }));
  });

  it("increments the counter while the wall clock stands still", () => {
    const h = new Hlc("edge", { now: () => 1000 });
    const out = [h.now(), h.now(), h.now()];
    expect(out.map((s) => decodeHlc(s).counter)).toEqual([0, 1, 2]);
    expect(out.every((s) => decodeHlc(s).wall === 1000)).toBe(true);
  });

  it("stays monotonic when the wall clock goes backwards", () => {
    const c = manualClock(10_000);
    const h = new Hlc("edge", { now: c.now });
    const a = h.now();
    c.set(5_000);
    const b = h.now();
    const d = h.now();
    expect(compareHlc(a, b)).toBe(-1);
    expect(compareHlc(b, d)).toBe(-1);
    expect(decodeHlc(d)).toEqual({ wall: 10_000, counter: 2, node: "edge" });
    c.set(10_001);
    expect(decodeHlc(h.now())).toEqual({ wall: 10_001, counter: 0, node: "edge" });
  });

  it("continues after a persisted `last`, even with a clock moved back", () => {
    const before = new Hlc("edge", { now: () => 50_000 });
    before.now();
    const saved = before.now();
    const after = new Hlc("edge", { now: () => 1_000, last: saved });
    expect(after.last).toBe(saved);
    expect(compareHlc(after.now(), saved)).toBe(1);
  });

  it("refuses a malformed `last` and a bad node", () => {
    expect(() => new Hlc("edge", { last: "nope" })).toThrow(/malformed/);
    expect(() => new Hlc("Edge")).toThrow(RangeError);
  });

  it("borrows the next millisecond when the counter would overflow", () => {
    const h = new Hlc("edge", { now: () => 7, last: encodeHlc({ wall: 7, counter: 99_998, node: "edge" }) });
    expect(decodeHlc(h.now())).toEqual({ wall: 7, counter: 99_999, node: "edge" });
    expect(decodeHlc(h.now())).toEqual({ wall: 8, counter: 0, node: "edge" });
  });

  it("receive: takes a remote time ahead of it and ticks past it", () => {
    const h = new Hlc("edge", { now: () => 1000 });
    h.now();
    const remote = encodeHlc({ wall: 1500, counter: 3, node: "hub" });
    const got = h.receive(remote);
    expect(decodeHlc(got)).toEqual({ wall: 1500, counter: 4, node: "edge" });
    expect(compareHlc(h.now(), got)).toBe(1);
  });

  it("receive: equal walls take the larger counter plus one", () => {
    const h = new Hlc("edge", { now: () => 1000 });
    h.now();
    h.now(); // 1000.1
    expect(decodeHlc(h.receive(encodeHlc({ wall: 1000, counter: 5, node: "hub" }))).counter).toBe(6);
    expect(decodeHlc(h.receive(encodeHlc({ wall: 1000, counter: 0, node: "hub" }))).counter).toBe(7);
  });

  it("receive: a remote behind the local clock just ticks the local one", () => {
    const c = manualClock(2000);
    const h = new Hlc("edge", { now: c.now });
    h.now();
    expect(decodeHlc(h.receive(encodeHlc({ wall: 10, counter: 9, node: "hub" })))).toEqual({
      wall: 2000,
      counter: 1,
      node: "edge",
    });
    c.set(3000);
    expect(decodeHlc(h.receive(encodeHlc({ wall: 10, counter: 9, node: "hub" })))).toEqual({
      wall: 3000,
      counter: 0,
      node: "edge",
    });
  });

  it("receive: rejects timestamps too far in the future and keeps its state", () => {
    const h = new Hlc("edge", { now: () => 1_000_000, maxDriftMs: 60_000 });
    const before = h.now();
    const ok = encodeHlc({ wall: 1_060_000, counter: 0, node: "hub" });
    const far = encodeHlc({ wall: 1_060_001 + 1, counter: 0, node: "hub" });
    let err: unknown;
    try {
      h.receive(far);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HlcDriftError);
    expect((err as HlcDriftError).remote).toBe(far);
    expect((err as HlcDriftError).aheadMs).toBe(60_002);
    expect(h.last).toBe(before);
    expect(decodeHlc(h.receive(ok)).wall).toBe(1_060_000);
  });

  it("receive: the default drift limit is 60 s", () => {
    const h = new Hlc("edge", { now: () => 0 });
    expect(() => h.receive(encodeHlc({ wall: 60_000, counter: 0, node: "hub" }))).not.toThrow();
    expect(() => h.receive(encodeHlc({ wall: 60_001, counter: 0, node: "hub" }))).toThrow(HlcDriftError);
  });

  it("receive: throws on malformed remote timestamps without moving", () => {
    const h = new Hlc("edge", { now: () => 5 });
    const before = h.now();
    for (const bad of ["", "5.0.hub", "999999999999999.00000.HUB"]) expect(() => h.receive(bad)).toThrow();
    expect(h.last).toBe(before);
  });

  it("property: random clocks, jumps and merges give strictly increasing timestamps", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = rng(seed);
      const c = manualClock(1_700_000_000_000);
      const h = new Hlc("edge", { now: c.now, maxDriftMs: 5_000 });
      let prev = h.last;
      for (let i = 0; i < 2_000; i++) {
        const roll = r();
        if (roll < 0.3) c.add(Math.floor(r() * 5));
        else if (roll < 0.4)
          c.add(-Math.floor(r() * 10_000)); // NTP steps back
        else if (roll < 0.45) c.add(Math.floor(r() * 100_000));
        let next: string;
        if (r() < 0.3) {
          const remote = encodeHlc({
            wall: Math.max(0, c.now() + Math.floor((r() - 0.5) * 20_000)),
            counter: Math.floor(r() * 10),
            node: "hub",
          });
          try {
            next = h.receive(remote);
          } catch (err) {
            expect(err).toBeInstanceOf(HlcDriftError);
            expect(decodeHlc(remote).wall - c.now()).toBeGreaterThan(5_000);
            continue;
          }
          expect(compareHlc(next, remote)).toBe(1);
        } else {
          next = h.now();
        }
        expect(compareHlc(prev, next), `seed ${seed} step ${i}`).toBe(-1);
        expect(decodeHlc(next).wall).toBeGreaterThanOrEqual(c.now());
        prev = next;
      }
    }
  });
});
