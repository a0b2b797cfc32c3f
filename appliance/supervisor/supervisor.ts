/**
 * The supervisor owns the box: it keeps `current` (what runs) and `desired` (what should run), and a single
 * reconcile loop applies plan(current, desired) until they match. Stopping is the same loop with an empty
 * desired state, so start-up and shut-down share one ordering logic.
 */
import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdirSync } from "node:fs";
import type { ApplianceConfig } from "../config/schema.js";
import type { Logger, PermissionDeclarations, ServiceDefinition } from "../kit/index.js";
import { removePid } from "../lib/pidfile.js";
import { freePort } from "../lib/ports.js";
import type { DataPaths } from "../paths.js";
import { defaultHostCommand, type HostCommand, spawnUnit, terminate } from "./executor.js";
import { unitReady } from "./health.js";
import { hostEnv } from "./host-env.js";
import { closeLog, openLog, rotateIfNeeded } from "./log-files.js";
import { reapStaleNats } from "./nats-process.js";
import { type RunningNats, startNats } from "./nats-server.js";
import { plan } from "./planner.js";
import {
  type CurrentState,
  type DesiredState,
  newUnitStatus,
  type Policy,
  type Step,
  type UnitStatus,
} from "./state.js";
import { type ServiceStatus, serviceStatuses } from "./status.js";
import { unitsFor } from "./units.js";

export type { ServiceStatus } from "./status.js";

export interface SupervisorDeps {
  config: ApplianceConfig;
  paths: DataPaths;
  services: ServiceDefinition<unknown>[];
  isolation: "process" | "shared";
  log: Logger;
  host?: HostCommand;
  now?: () => number;
  /** Shared with the gateway: services accept requests only with it (health and ready excepted). */
  internalToken?: string;
  /** Every permission declared on the box, for the service hosts (identity's built-in roles). */
  permissions?: PermissionDeclarations;
  /** Environment the service settings (`NEXUS_<SERVICE>_*`) come from; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

export class Supervisor extends EventEmitter {
  readonly current: CurrentState = { nats: "stopped", units: {} };
  private desired: DesiredState;
  private readonly policy: Policy;
  private readonly ports = new Map<string, number>();
  private readonly children = new Map<string, ChildProcess>();
  private readonly failedServices = new Map<string, Set<string>>();
  private readonly logFds = new Map<string, number>();
  private readonly lastProbe = new Map<string, number>();
  private routeCache: Map<string, number> | null = null;
  private readonly names: readonly string[];
  private nats: RunningNats | null = null;
  private natsRetryAt = 0;
  /** The stale nats-server of an earlier supervisor, gone (see start()). */
  private reaped: Promise<void> = Promise.resolve();
  private natsFailures = 0;
  private natsPort = 0;
  private timer: NodeJS.Timeout | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private rotateTimer: NodeJS.Timeout | null = null;
  private reconciling = false;
  private again = false;
  private stopped: Promise<void> | null = null;
  private readonly now: () => number;
  private readonly host: HostCommand;

  constructor(private readonly deps: SupervisorDeps) {
    super();
    this.now = deps.now ?? Date.now;
    this.host = deps.host ?? defaultHostCommand();
    const s = deps.config.supervisor;
    this.policy = {
      backoffBaseMs: s.backoffBaseMs,
      backoffMaxMs: s.backoffMaxMs,
      crashLoopThreshold: s.crashLoopThreshold,
      crashLoopWindowMs: s.crashLoopWindowMs,
      crashLoopRetryBaseMs: s.crashLoopRetryBaseMs,
      crashLoopRetryMaxMs: s.crashLoopRetryMaxMs,
      startTimeoutMs: s.startTimeoutMs,
      unhealthyAfter: s.unhealthyAfter,
    };
    const units = unitsFor(deps.services, deps.isolation);
    for (const spec of units) this.current.units[spec.name] = newUnitStatus(spec);
    this.desired = { nats: true, units };
    this.names = units.flatMap((u) => u.services);
  }

  /** Starts the loops. Resolves at once; watch `ready()` or the `unit` events for progress. */
  start(): void {
    const { paths } = this.deps;
    for (const dir of [paths.run, paths.logs, paths.services]) mkdirSync(dir, { recursive: true });
    // Started before the first nats-server: startNats() waits for it.
    this.reaped = reapStaleNats(paths.natsPid, paths.natsConf).then((stale) => {
      if (stale) this.deps.log.warn({ natsPid: stale }, "killed a nats-server left by an earlier supervisor");
    });
    this.timer = setInterval(() => this.reconcile(), 200);
    this.healthTimer = setInterval(() => void this.checkHealth(), 250);
    this.rotateTimer = setInterval(() => this.rotateLogs(), 5000);
    this.reconcile();
  }

  /**
   * Resolves when every unit is running, rejects when one is in crash loop or `timeoutMs` passes. A unit in
   * crash loop is retried later, but start-up is reported as failed at once: that is what the caller waits for.
   */
  ready(timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const deadline = this.now() + timeoutMs;
      const check = () => {
        const units = Object.values(this.current.units);
        if (units.every((u) => u.state === "running")) return done(resolve);
        const bad = units.find((u) => u.state === "crashloop");
        if (bad) return done(() => reject(new Error(`${bad.spec.name} is in crash loop: ${bad.lastError}`)));
        if (this.now() > deadline) return done(() => reject(new Error("services not ready in time")));
      };
      const t = setInterval(check, 100);
      const done = (f: () => void) => {
        clearInterval(t);
        f();
      };
      check();
    });
  }

  /** Ports of services that are up, for the gateway (on its hot path: cached until a unit changes). */
  routes(): ReadonlyMap<string, number> {
    this.routeCache ??= this.computeRoutes();
    return this.routeCache;
  }

  private computeRoutes(): Map<string, number> {
    const out = new Map<string, number>();
    for (const u of Object.values(this.current.units)) {
      if (u.state !== "running") continue;
      const failed = this.failedServices.get(u.spec.name);
      for (const s of u.spec.services) {
        const p = this.ports.get(s);
        if (p && !failed?.has(s)) out.set(s, p);
      }
    }
    return out;
  }

  /** Names of every service the box is configured to run. */
  serviceNames(): readonly string[] {
    return this.names;
  }

  /** Per-service status for `nexus status`, the gateway's /metrics and the console. */
  status(): ServiceStatus[] {
    return serviceStatuses(Object.values(this.current.units), this.ports, this.failedServices, this.now());
  }

  natsState() {
    return { state: this.current.nats, pid: this.nats?.child.pid ?? null, url: this.nats?.url ?? null };
  }

  /** Restarts a unit now, also one in crash loop (an admin's explicit ask clears its failure history). */
  async restartUnit(name: string): Promise<void> {
    const u = this.current.units[name];
    if (!u) throw new Error(`no unit ${name}`);
    const child = this.children.get(name);
    forgetFailures(u);
    u.held = false;
    u.restarts++;
    if (child && (u.state === "running" || u.state === "starting")) {
      // The exit handler turns `stopping` into `stopped`, and the loop starts it again: one start only.
      this.setUnit(u, "stopping");
      await terminate(child, this.deps.config.supervisor.stopTimeoutMs);
      return;
    }
    if (u.state !== "stopping") this.setUnit(u, "stopped");
  }

  /**
   * Stops a unit and keeps it stopped (the planner leaves a held unit alone) until `startUnit`. Units that
   * depend on it keep running; the gateway answers 503 for its services meanwhile.
   */
  async stopUnit(name: string): Promise<void> {
    const u = this.current.units[name];
    if (!u) throw new Error(`no unit ${name}`);
    u.held = true;
    const child = this.children.get(name);
    if (child && (u.state === "running" || u.state === "starting" || u.state === "stopping")) {
      this.setUnit(u, "stopping");
      await terminate(child, this.deps.config.supervisor.stopTimeoutMs);
      return;
    }
    this.setUnit(u, "stopped");
  }

  /** Starts a unit stopped with `stopUnit` (or waiting in crash loop) now; a running unit is left alone. */
  startUnit(name: string): void {
    const u = this.current.units[name];
    if (!u) throw new Error(`no unit ${name}`);
    u.held = false;
    if (u.state === "crashloop" || u.state === "stopped") forgetFailures(u);
    if (u.state === "crashloop") this.setUnit(u, "stopped");
    this.reconcile();
  }

  /** Drains and stops everything (dependents first, nats-server last). Idempotent. */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    this.desired = { nats: false, units: [] };
    this.stopped = new Promise<void>((resolve) => {
      const check = () => {
        const idle = Object.values(this.current.units).every((u) =>
          ["stopped", "crashloop"].includes(u.state),
        );
        if (idle && this.current.nats === "stopped") {
          clearInterval(t);
          this.shutdownLoops();
          resolve();
        }
      };
      const t = setInterval(check, 50);
      this.reconcile();
    });
    return this.stopped;
  }

  private shutdownLoops() {
    for (const t of [this.timer, this.healthTimer, this.rotateTimer]) if (t) clearInterval(t);
    for (const fd of this.logFds.values()) closeLog(fd);
    this.logFds.clear();
    removePid(this.deps.paths.natsPid);
  }

  /** One pass of plan + apply; re-runs once if asked while running. */
  private reconcile(): void {
    if (this.reconciling) {
      this.again = true;
      return;
    }
    this.reconciling = true;
    void (async () => {
      try {
        do {
          this.again = false;
          const steps = plan(this.current, this.desired, this.now(), this.policy);
          for (const step of steps) await this.apply(step);
        } while (this.again);
      } catch (err) {
        this.deps.log.error({ err }, "reconcile failed");
      } finally {
        this.reconciling = false;
      }
    })();
  }

  private async apply(step: Step): Promise<void> {
    const { log } = this.deps;
    switch (step.action) {
      case "start-nats":
        return this.startNats();
      case "stop-nats": {
        this.current.nats = "stopping";
        if (this.nats) await terminate(this.nats.child, this.deps.config.supervisor.stopTimeoutMs);
        this.nats = null;
        this.setNats("stopped");
        return;
      }
      case "start-unit":
        return this.launchUnit(step.unit);
      case "stop-unit": {
        const u = this.unit(step.unit);
        const child = this.children.get(step.unit);
        if (!child || u.state === "exited" || u.state === "backoff") return this.setUnit(u, "stopped");
        this.setUnit(u, "stopping");
        void terminate(child, this.deps.config.supervisor.stopTimeoutMs);
        return;
      }
      case "kill-unit": {
        const u = this.unit(step.unit);
        log.warn({ unit: step.unit, reason: step.reason }, "killing unit");
        u.lastError = step.reason;
        u.failures.push(this.now());
        u.killRequested = true;
        this.children.get(step.unit)?.kill("SIGKILL");
        return;
      }
      case "schedule-restart": {
        const u = this.unit(step.unit);
        u.nextStartAt = step.at;
        this.setUnit(u, "backoff");
        log.info({ unit: step.unit, inMs: step.at - this.now() }, "restart scheduled");
        return;
      }
      case "mark-crashloop": {
        const u = this.unit(step.unit);
        u.nextStartAt = step.at;
        this.setUnit(u, "crashloop");
        const next = new Date(step.at).toISOString();
        log.error(
          { unit: step.unit, lastError: u.lastError, next },
          "unit is in crash loop; retrying it later",
        );
        return;
      }
      case "clear-crashloop": {
        const u = this.unit(step.unit);
        u.crashLoopRetries = 0;
        log.info({ unit: step.unit }, "unit recovered from crash loop");
        return;
      }
    }
  }

  private async startNats(): Promise<void> {
    if (this.now() < this.natsRetryAt) return;
    const { config, paths, log } = this.deps;
    this.setNats("starting");
    try {
      await this.reaped;
      const fd = this.logFd("nats");
      this.nats = await startNats({
        bin: config.natsServer,
        paths,
        site: config.site,
        logFd: fd,
        port: this.natsPort,
      });
      this.natsPort = Number(new URL(this.nats.url).port);
      this.natsFailures = 0;
      const child = this.nats.child;
      child.once("exit", (code, signal) => {
        if (this.current.nats === "stopping") return;
        log.error({ code, signal }, "nats-server exited; restarting it");
        this.nats = null;
        this.setNats("failed");
      });
      log.info({ url: this.nats.url, natsPid: child.pid }, "nats-server running");
      this.setNats("running");
    } catch (err) {
      this.natsFailures++;
      this.natsRetryAt = this.now() + Math.min(500 * 2 ** this.natsFailures, 30_000);
      log.error({ err: (err as Error).message }, "nats-server failed to start");
      this.setNats("failed");
    }
  }

  private async launchUnit(name: string): Promise<void> {
    const u = this.unit(name);
    const { config, paths, log } = this.deps;
    if (!this.nats) return;
    const from = u.state;
    for (const s of u.spec.services) if (!this.ports.has(s)) this.ports.set(s, await freePort());
    if (from === "backoff" || from === "crashloop") u.restarts++;
    if (from === "crashloop") u.crashLoopRetries++;
    u.nextStartAt = null;
    this.failedServices.delete(name);
    this.routeCache = null;
    u.killRequested = false;
    const env = hostEnv({
      paths,
      config,
      nats: { url: this.nats.url, ...this.nats.creds },
      internalToken: this.deps.internalToken,
      permissions: this.deps.permissions,
      env: this.deps.env ?? process.env,
    });
    const child = spawnUnit(u, this.ports, {
      host: this.host,
      env,
      logFd: this.logFd(name),
      log,
      now: this.now,
      onExit: (unit, code, signal) => {
        // Only the process we track speaks for the unit; a late exit of an older one changes nothing.
        if (this.children.get(name) !== child) return;
        this.onUnitExit(unit, code, signal);
      },
      onMessage: (unit, msg) => this.onUnitMessage(unit, msg),
    });
    this.children.set(name, child);
    log.info({ unit: name, unitPid: child.pid, services: u.spec.services }, "unit starting");
    this.emit("unit", name, u.state);
  }

  private onUnitExit(u: UnitStatus, code: number | null, signal: NodeJS.Signals | null) {
    this.children.delete(u.spec.name);
    u.pid = null;
    // A unit that died before it was ready may have lost its port to another process: pick new ones.
    if (u.state === "starting") for (const s of u.spec.services) this.ports.delete(s);
    if (u.state === "stopping") return this.setUnit(u, "stopped");
    if (this.desired.units.length === 0) return this.setUnit(u, "stopped");
    if (!u.killRequested) {
      u.failures.push(this.now());
      u.lastError = signal ? `killed by ${signal}` : `exited with code ${code}`;
    }
    this.deps.log.warn({ unit: u.spec.name, code, signal }, "unit exited");
    this.setUnit(u, "exited");
  }

  private onUnitMessage(u: UnitStatus, msg: unknown) {
    const m = msg as { type?: string; services?: { name: string }[]; lines?: unknown };
    if (m?.type === "log-dropped" && typeof m.lines === "number" && m.lines > 0) {
      u.logLinesDropped += m.lines;
      return;
    }
    if (m?.type !== "started" || !Array.isArray(m.services)) return;
    const started = new Set(m.services.map((s) => s.name));
    const failed = new Set(u.spec.services.filter((s) => !started.has(s)));
    if (failed.size > 0) this.failedServices.set(u.spec.name, failed);
    this.routeCache = null;
  }

  private async checkHealth(): Promise<void> {
    const now = this.now();
    await Promise.all(
      Object.values(this.current.units).map(async (u) => {
        if (u.state !== "starting" && u.state !== "running") return;
        const last = this.lastProbe.get(u.spec.name) ?? 0;
        const interval = u.state === "starting" ? 100 : this.deps.config.supervisor.healthIntervalMs;
        if (now - last < interval) return;
        this.lastProbe.set(u.spec.name, now);
        const failed = this.failedServices.get(u.spec.name);
        const ports = u.spec.services.filter((s) => !failed?.has(s)).map((s) => this.ports.get(s) ?? 0);
        const ok = ports.length > 0 && (await unitReady(ports));
        if (u.state === "starting" && ok) {
          u.healthFailures = 0;
          this.setUnit(u, "running");
        } else if (u.state === "running") {
          u.healthFailures = ok ? 0 : u.healthFailures + 1;
          if (!ok) this.reconcile();
        }
      }),
    );
  }

  private rotateLogs() {
    const { supervisor } = this.deps.config;
    for (const name of this.logFds.keys()) {
      try {
        rotateIfNeeded(this.deps.paths.logFile(name), supervisor.logMaxBytes, supervisor.logKeep);
      } catch (err) {
        // Called from a timer: a failed rotation (a disk error) must not take the supervisor, and the box, down.
        this.deps.log.warn({ err, log: name }, "log rotation failed");
      }
    }
  }

  private logFd(name: string): number {
    let fd = this.logFds.get(name);
    if (fd === undefined) {
      fd = openLog(this.deps.paths.logFile(name));
      this.logFds.set(name, fd);
    }
    return fd;
  }

  private unit(name: string): UnitStatus {
    const u = this.current.units[name];
    if (!u) throw new Error(`unknown unit ${name}`);
    return u;
  }

  private setUnit(u: UnitStatus, state: UnitStatus["state"]) {
    if (u.state === state) return;
    u.state = state;
    this.routeCache = null;
    this.emit("unit", u.spec.name, state);
    this.reconcile();
  }

  private setNats(state: CurrentState["nats"]) {
    this.current.nats = state;
    this.emit("nats", state);
    this.reconcile();
  }
}

/** An admin's explicit start or restart: the unit starts afresh, with no failures and no crash-loop history. */
function forgetFailures(u: UnitStatus): void {
  u.failures = [];
  u.crashLoopRetries = 0;
  u.nextStartAt = null;
}
