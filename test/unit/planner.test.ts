import { describe, expect, it } from "vitest";
import { backoffDelay, crashLoopDelay, plan, topoOrder } from "../../appliance/supervisor/planner.js";
import {
  type CurrentState,
  type DesiredState,
  newUnitStatus,
  type Policy,
  type UnitSpec,
  type UnitStatus,
} from "../../appliance/supervisor/state.js";

const policy: Policy = {
  backoffBaseMs: 100,
  backoffMaxMs: 1000,
  crashLoopThreshold: 3,
  crashLoopWindowMs: 10_000,
  crashLoopRetryBaseMs: 2000,
  crashLoopRetryMaxMs: 5000,
  startTimeoutMs: 5000,
  unhealthyAfter: 3,
};
const a: UnitSpec = { name: "a", services: ["a"], dependsOn: [] };
const b: UnitSpec = { name: "b", services: ["b"], dependsOn: ["a"] };
const c: UnitSpec = { name: "c", services: ["c"], dependsOn: ["b"] };

function state(nats: CurrentState["nats"], units: [UnitSpec, Partial<UnitStatus>][]): CurrentState {
  return {
    nats,
    units: Object.fromEntries(units.map(([spec, s]) => [spec.name, { ...newUnitStatus(spec), ...s }])),
  };
}
const up: DesiredState = { nats: true, units: [a, b, c] };
const down: DesiredState = { nats: false, units: [] };

describe("plan", () => {
  it("starts nats-server first and nothing else", () => {
    expect(
      plan(
        state("stopped", [
          [a, {}],
          [b, {}],
        ]),
        up,
        0,
        policy,
      ),
    ).toEqual([{ action: "start-nats" }]);
  });

  it("leaves a unit an admin stopped (held) stopped, and its dependents waiting", () => {
    const s = state("running", [
      [a, { state: "stopped", held: true }],
      [b, {}],
      [c, {}],
    ]);
    expect(plan(s, up, 0, policy)).toEqual([]);
    expect(plan(state("running", [[a, { state: "stopped", held: false }]]), up, 0, policy)).toEqual([
      { action: "start-unit", unit: "a" },
    ]);
  });

  it("waits while nats-server is starting", () => {
    expect(plan(state("starting", [[a, {}]]), up, 0, policy)).toEqual([]);
  });

  it("restarts nats-server when it failed", () => {
    expect(plan(state("failed", [[a, { state: "running" }]]), up, 0, policy)).toEqual([
      { action: "start-nats" },
    ]);
  });

  it("starts only units whose dependencies run", () => {
    const s = state("running", [
      [a, {}],
      [b, {}],
      [c, {}],
    ]);
    expect(plan(s, up, 0, policy)).toEqual([{ action: "start-unit", unit: "a" }]);
    const s2 = state("running", [
      [a, { state: "running" }],
      [b, {}],
      [c, {}],
    ]);
    expect(plan(s2, up, 0, policy)).toEqual([{ action: "start-unit", unit: "b" }]);
  });

  it("does nothing when everything runs", () => {
    const s = state("running", [
      [a, { state: "running" }],
      [b, { state: "running" }],
      [c, { state: "running" }],
    ]);
    expect(plan(s, up, 0, policy)).toEqual([]);
  });

  it("schedules a restart with exponential backoff after an exit", () => {
    const s = state("running", [[a, { state: "exited", failures: [900, 1000] }]]);
    expect(plan(s, { nats: true, units: [a] }, 1000, policy)).toEqual([
      { action: "schedule-restart", unit: "a", at: 1000 + 200 },
    ]);
  });

  it("restarts after the backoff has elapsed, not before", () => {
    const s = state("running", [[a, { state: "backoff", nextStartAt: 500 }]]);
    expect(plan(s, { nats: true, units: [a] }, 499, policy)).toEqual([]);
    expect(plan(s, { nats: true, units: [a] }, 500, policy)).toEqual([{ action: "start-unit", unit: "a" }]);
  });

  it("marks crash loop after threshold failures inside the window, with its first retry one base away", () => {
    const s = state("running", [[a, { state: "exited", failures: [1000, 2000, 3000] }]]);
    expect(plan(s, { nats: true, units: [a] }, 3000, policy)).toEqual([
      { action: "mark-crashloop", unit: "a", at: 3000 + 2000 },
    ]);
  });

  it("forgets failures older than the window", () => {
    const s = state("running", [[a, { state: "exited", failures: [1, 2, 20_000] }]]);
    expect(plan(s, { nats: true, units: [a] }, 20_000, policy)).toEqual([
      { action: "schedule-restart", unit: "a", at: 20_100 },
    ]);
  });

  it("retries a unit in crash loop once its next attempt is due, not before", () => {
    const s = state("running", [[a, { state: "crashloop", nextStartAt: 5000 }]]);
    expect(plan(s, { nats: true, units: [a] }, 4999, policy)).toEqual([]);
    expect(plan(s, { nats: true, units: [a] }, 5000, policy)).toEqual([{ action: "start-unit", unit: "a" }]);
  });

  it("waits with a crash-loop retry until the unit's dependencies run", () => {
    const s = state("running", [
      [a, { state: "backoff", nextStartAt: 9999 }],
      [b, { state: "crashloop", nextStartAt: 0 }],
    ]);
    expect(plan(s, { nats: true, units: [a, b] }, 100, policy)).toEqual([]);
  });

  it("sends a failed crash-loop retry straight back to crash loop, doubling the delay up to the cap", () => {
    // One failure only inside the window: without the retry count this would be an ordinary backoff.
    const exited = (crashLoopRetries: number) =>
      state("running", [[a, { state: "exited", failures: [50_000], crashLoopRetries }]]);
    const next = (retries: number) => plan(exited(retries), { nats: true, units: [a] }, 50_000, policy);
    expect(next(1)).toEqual([{ action: "mark-crashloop", unit: "a", at: 50_000 + 4000 }]);
    expect(next(2)).toEqual([{ action: "mark-crashloop", unit: "a", at: 50_000 + 5000 }]);
    expect(next(7)).toEqual([{ action: "mark-crashloop", unit: "a", at: 50_000 + 5000 }]);
  });

  it("clears the crash-loop count once a retried unit has run for a whole window", () => {
    const s = state("running", [[a, { state: "running", startedAt: 1000, crashLoopRetries: 3 }]]);
    expect(plan(s, { nats: true, units: [a] }, 10_999, policy)).toEqual([]);
    expect(plan(s, { nats: true, units: [a] }, 11_000, policy)).toEqual([
      { action: "clear-crashloop", unit: "a" },
    ]);
    const fresh = state("running", [[a, { state: "running", startedAt: 1000, crashLoopRetries: 0 }]]);
    expect(plan(fresh, { nats: true, units: [a] }, 99_000, policy)).toEqual([]);
  });

  it("never starts a unit in crash loop on the way down, even when its retry is due", () => {
    const s = state("running", [
      [a, { state: "stopped" }],
      [b, { state: "crashloop", nextStartAt: 0 }],
    ]);
    expect(plan(s, down, 10_000, policy)).toEqual([{ action: "stop-nats" }]);
  });

  it("kills a unit that does not become ready in time", () => {
    const s = state("running", [[a, { state: "starting", startedAt: 0 }]]);
    expect(plan(s, { nats: true, units: [a] }, 5000, policy)).toEqual([]);
    expect(plan(s, { nats: true, units: [a] }, 5001, policy)).toEqual([
      { action: "kill-unit", unit: "a", reason: "not ready before the start timeout" },
    ]);
  });

  it("kills a running unit after repeated failed health checks", () => {
    const s = state("running", [[a, { state: "running", healthFailures: 3 }]]);
    expect(plan(s, { nats: true, units: [a] }, 0, policy)).toEqual([
      { action: "kill-unit", unit: "a", reason: "failed health checks" },
    ]);
  });

  it("stops dependents before what they depend on, nats-server last", () => {
    const all = state("running", [
      [a, { state: "running" }],
      [b, { state: "running" }],
      [c, { state: "running" }],
    ]);
    expect(plan(all, down, 0, policy)).toEqual([{ action: "stop-unit", unit: "c" }]);
    const cStopping = state("running", [
      [a, { state: "running" }],
      [b, { state: "running" }],
      [c, { state: "stopping" }],
    ]);
    expect(plan(cStopping, down, 0, policy)).toEqual([]);
    const onlyA = state("running", [
      [a, { state: "running" }],
      [b, { state: "stopped" }],
      [c, { state: "stopped" }],
    ]);
    expect(plan(onlyA, down, 0, policy)).toEqual([{ action: "stop-unit", unit: "a" }]);
    const none = state("running", [
      [a, { state: "stopped" }],
      [b, { state: "crashloop" }],
    ]);
    expect(plan(none, down, 0, policy)).toEqual([{ action: "stop-nats" }]);
  });

  it("stops a unit waiting in backoff at once on the way down", () => {
    const s = state("running", [[a, { state: "backoff", nextStartAt: 99 }]]);
    expect(plan(s, down, 0, policy)).toEqual([{ action: "stop-unit", unit: "a" }]);
  });

  it("stops a unit that is no longer wanted while the others keep running", () => {
    const s = state("running", [
      [a, { state: "running" }],
      [b, { state: "running" }],
    ]);
    expect(plan(s, { nats: true, units: [a] }, 0, policy)).toEqual([{ action: "stop-unit", unit: "b" }]);
  });
});

describe("backoffDelay", () => {
  it("doubles and caps", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
});

describe("crashLoopDelay", () => {
  it("doubles from the crash-loop base and caps", () => {
    expect([1, 2, 3, 4].map((n) => crashLoopDelay(n, policy))).toEqual([2000, 4000, 5000, 5000]);
  });
});

describe("topoOrder", () => {
  it("puts dependencies first", () => {
    expect(topoOrder([c, b, a]).map((u) => u.name)).toEqual(["a", "b", "c"]);
  });
  it("rejects cycles and unknown dependencies", () => {
    expect(() =>
      topoOrder([
        { name: "x", dependsOn: ["y"] },
        { name: "y", dependsOn: ["x"] },
      ]),
    ).toThrow(/cycle/);
    expect(() => topoOrder([{ name: "x", dependsOn: ["nope"] }])).toThrow(/not enabled/);
  });
});
