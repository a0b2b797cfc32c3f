/** Desired and current state of the box, as plain data. The planner reads them; executors change `current`. */

/**
 * Every state a unit can be in, in one list so that /metrics can show a 0/1 series for each:
 * - stopped: not running, not wanted to run yet (initial, or stopped on purpose)
 * - starting: process spawned, not yet ready
 * - running: every service in it answers /ready
 * - exited: the process ended on its own; the planner decides what next
 * - backoff: waiting until `nextStartAt` before the next start
 * - crashloop: failed too often; retried at `nextStartAt`, each failed retry doubling the wait up to a cap
 * - stopping: asked to stop, waiting for it to exit
 */
export const UNIT_STATES = [
  "stopped",
  "starting",
  "running",
  "exited",
  "backoff",
  "crashloop",
  "stopping",
] as const;

export type UnitState = (typeof UNIT_STATES)[number];

/** A unit is one process: a single service (`isolation: process`) or all of them (`shared`). */
export interface UnitSpec {
  name: string;
  services: string[];
  /** Units that must be running before this one starts. */
  dependsOn: string[];
}

export interface UnitStatus {
  spec: UnitSpec;
  state: UnitState;
  pid: number | null;
  /** Times (ms) of recent failures: exits, start time-outs, failed health checks. */
  failures: number[];
  restarts: number;
  startedAt: number | null;
  /** When a unit in `backoff` or `crashloop` is started next (ms). */
  nextStartAt: number | null;
  /** Crash-loop retries since the unit last ran for a whole crash-loop window; 0 when not in crash loop. */
  crashLoopRetries: number;
  /** Consecutive failed health checks while running. */
  healthFailures: number;
  lastError: string | null;
  /** The supervisor killed it (time-out, health): the exit is already counted as a failure. */
  killRequested: boolean;
  /** Stopped on purpose by an admin: stays `stopped` (the planner does not start it) until started again. */
  held: boolean;
  /** Log lines its processes could not write (a full log disk), as they reported them; across restarts. */
  logLinesDropped: number;
}

export type NatsState = "stopped" | "starting" | "running" | "stopping" | "failed";

export interface CurrentState {
  nats: NatsState;
  units: Record<string, UnitStatus>;
}

export interface DesiredState {
  nats: boolean;
  units: UnitSpec[];
}

export interface Policy {
  backoffBaseMs: number;
  backoffMaxMs: number;
  crashLoopThreshold: number;
  crashLoopWindowMs: number;
  /** First wait before a unit in crash loop is tried again; doubled per failed retry, up to the max. */
  crashLoopRetryBaseMs: number;
  crashLoopRetryMaxMs: number;
  startTimeoutMs: number;
  unhealthyAfter: number;
}

/** The planner's policy, picked from the supervisor's config. */
export function policyOf(s: Policy): Policy {
  return {
    backoffBaseMs: s.backoffBaseMs,
    backoffMaxMs: s.backoffMaxMs,
    crashLoopThreshold: s.crashLoopThreshold,
    crashLoopWindowMs: s.crashLoopWindowMs,
    crashLoopRetryBaseMs: s.crashLoopRetryBaseMs,
    crashLoopRetryMaxMs: s.crashLoopRetryMaxMs,
    startTimeoutMs: s.startTimeoutMs,
    unhealthyAfter: s.unhealthyAfter,
  };
}

export type Step =
  | { action: "start-nats" }
  | { action: "stop-nats" }
  | { action: "start-unit"; unit: string }
  | { action: "stop-unit"; unit: string }
  | { action: "kill-unit"; unit: string; reason: string }
  | { action: "schedule-restart"; unit: string; at: number }
  | { action: "mark-crashloop"; unit: string; at: number }
  | { action: "clear-crashloop"; unit: string };

/** A fresh status for a unit that has never run. */
export function newUnitStatus(spec: UnitSpec): UnitStatus {
  return {
    spec,
    state: "stopped",
    pid: null,
    failures: [],
    restarts: 0,
    startedAt: null,
    nextStartAt: null,
    crashLoopRetries: 0,
    healthFailures: 0,
    logLinesDropped: 0,
    lastError: null,
    killRequested: false,
    held: false,
  };
}
