/**
 * One executor per planner step (balena-supervisor's executors map). Executors act through the context the
 * supervisor gives them; the supervisor keeps the state and the loops.
 */
import type { ChildProcess } from "node:child_process";
import type { Logger } from "../kit/index.js";
import { terminate } from "./executor.js";
import type { Step, UnitStatus } from "./state.js";

/** What an executor may touch: the supervisor's units, children and setters. */
export interface StepContext {
  log: Logger;
  now: () => number;
  stopTimeoutMs: number;
  unit(name: string): UnitStatus;
  child(name: string): ChildProcess | undefined;
  setUnit(u: UnitStatus, state: UnitStatus["state"]): void;
  startNats(): Promise<void>;
  stopNats(): Promise<void>;
  launchUnit(name: string): Promise<void>;
}

type Executor<A extends Step["action"]> = (
  step: Extract<Step, { action: A }>,
  ctx: StepContext,
) => Promise<void> | void;
type Executors = { [A in Step["action"]]: Executor<A> };

/** The executor of each step action. */
export const executors: Executors = {
  "start-nats": (_step, ctx) => ctx.startNats(),
  "stop-nats": (_step, ctx) => ctx.stopNats(),
  "start-unit": (step, ctx) => ctx.launchUnit(step.unit),
  "stop-unit": (step, ctx) => {
    const u = ctx.unit(step.unit);
    const child = ctx.child(step.unit);
    if (!child || u.state === "exited" || u.state === "backoff") return ctx.setUnit(u, "stopped");
    ctx.setUnit(u, "stopping");
    void terminate(child, ctx.stopTimeoutMs);
  },
  "kill-unit": (step, ctx) => {
    const u = ctx.unit(step.unit);
    ctx.log.warn({ unit: step.unit, reason: step.reason }, "killing unit");
    u.lastError = step.reason;
    u.failures.push(ctx.now());
    u.killRequested = true;
    ctx.child(step.unit)?.kill("SIGKILL");
  },
  "schedule-restart": (step, ctx) => {
    const u = ctx.unit(step.unit);
    u.nextStartAt = step.at;
    ctx.setUnit(u, "backoff");
    ctx.log.info({ unit: step.unit, inMs: step.at - ctx.now() }, "restart scheduled");
  },
  "mark-crashloop": (step, ctx) => {
    const u = ctx.unit(step.unit);
    u.nextStartAt = step.at;
    ctx.setUnit(u, "crashloop");
    const next = new Date(step.at).toISOString();
    ctx.log.error(
      { unit: step.unit, lastError: u.lastError, next },
      "unit is in crash loop; retrying it later",
    );
  },
  "clear-crashloop": (step, ctx) => {
    const u = ctx.unit(step.unit);
    u.crashLoopRetries = 0;
    ctx.log.info({ unit: step.unit }, "unit recovered from crash loop");
  },
};

/** Runs the executor of `step`. */
export async function applyStep(step: Step, ctx: StepContext): Promise<void> {
  const run = executors[step.action] as Executor<Step["action"]>;
  await run(step, ctx);
}
