/**
 * The supervisor's nats-server: start with exponential retry, restart-on-exit, stop. It writes the nats state
 * into the supervisor's `current` (the planner reads it there); `setState` is the supervisor's own setter, which
 * emits and re-runs the reconcile loop.
 */
import type { ApplianceConfig } from "../config/schema.js";
import type { Logger } from "../kit/index.js";
import type { DataPaths } from "../paths.js";
import { terminate } from "./executor.js";
import { reapStaleNats } from "./nats-process.js";
import { type RunningNats, startNats } from "./nats-server.js";
import type { CurrentState } from "./state.js";

export interface NatsUnitDeps {
  config: ApplianceConfig;
  paths: DataPaths;
  log: Logger;
  now: () => number;
  current: CurrentState;
  setState: (state: CurrentState["nats"]) => void;
  /** The log file descriptor nats-server writes to. */
  logFd: () => number;
}

/** One nats-server owned by the supervisor, restarted when it exits and backed off when it fails to start. */
export class NatsUnit {
  private running: RunningNats | null = null;
  private retryAt = 0;
  /** The stale nats-server of an earlier supervisor, gone (see reapStale()). */
  private reaped: Promise<void> = Promise.resolve();
  private failures = 0;
  private port = 0;

  constructor(private readonly deps: NatsUnitDeps) {}

  /** The server, when one is up. */
  get server(): RunningNats | null {
    return this.running;
  }

  /** Kills a nats-server left by an earlier supervisor; start() waits for it. */
  reapStale(): void {
    const { paths, log } = this.deps;
    this.reaped = reapStaleNats(paths.natsPid, paths.natsConf).then((stale) => {
      if (stale) log.warn({ natsPid: stale }, "killed a nats-server left by an earlier supervisor");
    });
  }

  /** Starts nats-server unless a failed start is still backing off; keeps the port across restarts. */
  async start(): Promise<void> {
    const { config, paths, log, now, setState } = this.deps;
    if (now() < this.retryAt) return;
    setState("starting");
    try {
      await this.reaped;
      const fd = this.deps.logFd();
      this.running = await startNats({
        bin: config.natsServer,
        paths,
        site: config.site,
        logFd: fd,
        port: this.port,
      });
      this.port = Number(new URL(this.running.url).port);
      this.failures = 0;
      const child = this.running.child;
      child.once("exit", (code, signal) => {
        if (this.deps.current.nats === "stopping") return;
        log.error({ code, signal }, "nats-server exited; restarting it");
        this.running = null;
        setState("failed");
      });
      log.info({ url: this.running.url, natsPid: child.pid }, "nats-server running");
      setState("running");
    } catch (err) {
      this.failures++;
      this.retryAt = now() + Math.min(500 * 2 ** this.failures, 30_000);
      log.error({ err: (err as Error).message }, "nats-server failed to start");
      setState("failed");
    }
  }

  /** Stops nats-server (SIGTERM, then SIGKILL after the stop timeout). */
  async stop(): Promise<void> {
    this.deps.current.nats = "stopping";
    if (this.running) await terminate(this.running.child, this.deps.config.supervisor.stopTimeoutMs);
    this.running = null;
    this.deps.setState("stopped");
  }
}
