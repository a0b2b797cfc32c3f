/**
 * plan(current, desired, now, policy): the steps that move the box toward the desired state. Pure: no I/O,
 * no clock, no randomness, so it is unit-tested with plain objects. The supervisor calls it in a loop and
 * applies the steps; anything that takes time (a process becoming ready) shows up in a later `current`.
 *
 * Ordering rules: nats-server first; a unit starts only when every unit it depends on is running; on the way
 * down a unit stops only when no running unit depends on it, and nats-server stops last. On the way down a
 * unit in crash loop counts as settled and is never started again, even when its retry is due.
 */
import type { CurrentState, DesiredState, Policy, Step, UnitStatus } from "./state.js";

/** base·2^(n-1) for attempt `n` (1-based), capped at `max`. */
function doubling(n: number, base: number, max: number): number {
  return Math.min(base * 2 ** Math.max(0, n - 1), max);
}

/** Delay before restart attempt `n` (1-based): base·2^(n-1), capped. */
export function backoffDelay(n: number, policy: Pick<Policy, "backoffBaseMs" | "backoffMaxMs">): number {
  return doubling(n, policy.backoffBaseMs, policy.backoffMaxMs);
}

/** Delay before crash-loop retry `n` (1-based): the crash-loop base doubled per failed retry, capped. */
export function crashLoopDelay(
  n: number,
  policy: Pick<Policy, "crashLoopRetryBaseMs" | "crashLoopRetryMaxMs">,
): number {
  return doubling(n, policy.crashLoopRetryBaseMs, policy.crashLoopRetryMaxMs);
}

/** Failures inside the crash-loop window ending at `now`. */
export function recentFailures(
  u: UnitStatus,
  now: number,
  policy: Pick<Policy, "crashLoopWindowMs">,
): number {
  return u.failures.filter((t) => now - t <= policy.crashLoopWindowMs).length;
}

export function plan(current: CurrentState, desired: DesiredState, now: number, policy: Policy): Step[] {
  const steps: Step[] = [];
  const wanted = new Map(desired.units.map((u) => [u.name, u]));
  const isUp = (name: string) => current.units[name]?.state === "running";

  // Down: units no longer wanted, dependents first.
  for (const [name, u] of Object.entries(current.units)) {
    if (wanted.has(name)) continue;
    if (u.state === "stopped" || u.state === "crashloop" || u.state === "stopping") continue;
    if (u.state === "exited" || u.state === "backoff") {
      steps.push({ action: "stop-unit", unit: name });
      continue;
    }
    const dependentAlive = Object.values(current.units).some(
      (o) => o.spec.dependsOn.includes(name) && ["starting", "running", "stopping"].includes(o.state),
    );
    if (!dependentAlive) steps.push({ action: "stop-unit", unit: name });
  }

  if (!desired.nats) {
    // nats-server goes last: only once every unit has settled (stopped, or parked in crash loop).
    const unsettled = Object.values(current.units).some(
      (u) => u.state !== "stopped" && u.state !== "crashloop",
    );
    if (
      !unsettled &&
      (current.nats === "running" || current.nats === "starting" || current.nats === "failed")
    ) {
      steps.push({ action: "stop-nats" });
    }
    return steps;
  }

  if (current.nats === "stopped" || current.nats === "failed") {
    steps.push({ action: "start-nats" });
    return steps;
  }
  if (current.nats !== "running") return steps;

  // Up: each wanted unit by its state.
  for (const spec of desired.units) {
    const u = current.units[spec.name];
    if (!u) continue; // the supervisor registers units before planning
    const depsUp = spec.dependsOn.every(isUp);
    switch (u.state) {
      case "stopped":
        if (depsUp && !u.held) steps.push({ action: "start-unit", unit: spec.name });
        break;
      case "starting":
        if (u.startedAt !== null && now - u.startedAt > policy.startTimeoutMs) {
          steps.push({ action: "kill-unit", unit: spec.name, reason: "not ready before the start timeout" });
        }
        break;
      case "running":
        if (u.healthFailures >= policy.unhealthyAfter) {
          steps.push({ action: "kill-unit", unit: spec.name, reason: "failed health checks" });
        } else if (recovered(u, now, policy)) {
          steps.push({ action: "clear-crashloop", unit: spec.name });
        }
        break;
      case "exited":
        steps.push(afterExit(spec.name, u, now, policy));
        break;
      case "backoff":
      case "crashloop":
        if (u.nextStartAt !== null && now >= u.nextStartAt && depsUp) {
          steps.push({ action: "start-unit", unit: spec.name });
        }
        break;
      case "stopping":
        break;
    }
  }
  return steps;
}

/**
 * What follows an exit: a quick restart with backoff, or crash loop once failures pile up inside the window.
 * A failed crash-loop retry goes straight back to crash loop, one step further along the crash-loop backoff,
 * however few failures the window still holds (the retries are further apart than the window).
 */
function afterExit(unit: string, u: UnitStatus, now: number, policy: Policy): Step {
  const n = recentFailures(u, now, policy);
  if (u.crashLoopRetries > 0 || n >= policy.crashLoopThreshold) {
    return { action: "mark-crashloop", unit, at: now + crashLoopDelay(u.crashLoopRetries + 1, policy) };
  }
  return { action: "schedule-restart", unit, at: now + backoffDelay(n, policy) };
}

/** A unit retried out of crash loop counts as recovered once it has run for a whole crash-loop window. */
function recovered(u: UnitStatus, now: number, policy: Policy): boolean {
  return u.crashLoopRetries > 0 && u.startedAt !== null && now - u.startedAt >= policy.crashLoopWindowMs;
}

/** Orders units so that every unit comes after those it depends on; throws on a cycle or unknown dependency. */
export function topoOrder<T extends { name: string; dependsOn: string[] }>(units: T[]): T[] {
  const byName = new Map(units.map((u) => [u.name, u]));
  const out: T[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (u: T, path: string[]) => {
    if (state.get(u.name) === "done") return;
    if (state.get(u.name) === "visiting")
      throw new Error(`dependency cycle: ${[...path, u.name].join(" -> ")}`);
    state.set(u.name, "visiting");
    for (const d of u.dependsOn) {
      const dep = byName.get(d);
      if (!dep) throw new Error(`${u.name} depends on ${d}, which is not enabled`);
      visit(dep, [...path, u.name]);
    }
    state.set(u.name, "done");
    out.push(u);
  };
  for (const u of units) visit(u, []);
  return out;
}
