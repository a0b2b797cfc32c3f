/**
 * plan(current, desired, now, policy): the steps that move the box toward the desired state. Pure: no I/O,
 * no clock, no randomness, so it is unit-tested with plain objects. The supervisor calls it in a loop and
 * applies the steps; anything that takes time (a process becoming ready) shows up in a later `current`.
 *
 * Ordering rules: nats-server first; a unit starts only when every unit it depends on is running; on the way
 * down a unit stops only when no running unit depends on it, and nats-server stops last.
 */
import type { CurrentState, DesiredState, Policy, Step, UnitStatus } from "./state.js";

/** Delay before restart attempt `n` (1-based): base·2^(n-1), capped. */
export function backoffDelay(n: number, policy: Pick<Policy, "backoffBaseMs" | "backoffMaxMs">): number {
  return Math.min(policy.backoffBaseMs * 2 ** Math.max(0, n - 1), policy.backoffMaxMs);
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
        }
        break;
      case "exited": {
        const n = recentFailures(u, now, policy);
        if (n >= policy.crashLoopThreshold) steps.push({ action: "mark-crashloop", unit: spec.name });
        else steps.push({ action: "schedule-restart", unit: spec.name, at: now + backoffDelay(n, policy) });
        break;
      }
      case "backoff":
        if (u.nextStartAt !== null && now >= u.nextStartAt && depsUp) {
          steps.push({ action: "start-unit", unit: spec.name });
        }
        break;
      case "crashloop":
      case "stopping":
        break;
    }
  }
  return steps;
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
