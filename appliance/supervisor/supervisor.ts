/**
 * The supervisor owns the box: it keeps `current` (what runs) and `desired` (what should run), and a single
 * reconcile loop applies plan(current, desired) until they match. Stopping is the same loop with an empty
 * desired state, so start-up and shut-down share one ordering logic.
 */
import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ApplianceConfig } from "../config/schema.js";
import { GATEWAY_READY } from "../host/gateway-ipc.js";
import type { Logger, PermissionDeclarations, ServiceManifest } from "../kit/index.js";
import { removePid } from "../lib/pidfile.js";
import { freePort } from "../lib/ports.js";
import type { DataPaths } from "../paths.js";
import { defaultHostCommand, type HostCommand, spawnUnit, terminate } from "./executor.js";
import { probeUnits } from "./health.js";
import { hostEnv } from "./host-env.js";
import { NatsUnit } from "./nats-unit.js";
import { plan } from "./planner.js";
import {
  type CurrentState,
  type DesiredState,
  newUnitStatus,
  type Policy,
  policyOf,
  type Step,
  type UnitStatus,
} from "./state.js";
import { liveRoutes, type ServiceStatus, serviceStatuses, whenReady } from "./status.js";
import { applyStep, type StepContext } from "./step-executors.js";
import { UnitLogs } from "./unit-logs.js";
import { SHARED_UNIT, unitsFor } from "./units.js";

export type { ServiceStatus } from "./status.js";

export interface SupervisorDeps {
  config: ApplianceConfig;
  paths: DataPaths;
  services: ServiceManifest[];
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
  /** Shared isolation: the gateway the shared host runs (host/gateway.ts), as NEXUS_HOST_GATEWAY. */
  hostGateway?: object;
}

export class Supervisor extends EventEmitter {
  readonly current: CurrentState = { nats: "stopped", units: {} };
  private desired: DesiredState;
  private readonly policy: Policy;
  private readonly ports = new Map<string, number>();
  private readonly children = new Map<string, ChildProcess>();
  private readonly failedServices = new Map<string, Set<string>>();
  /** Units whose host said its gateway takes connections (shared isolation). */
  private readonly gatewayReady = new Set<string>();
  private readonly logs: UnitLogs;
  private readonly lastProbe = new Map<string, number>();
  private routeCache: Map<string, number> | null = null;
  /** Service → the unix socket its host reported listening on. */
  private readonly sockets = new Map<string, string>();
  private socketDirMade = false;
  private readonly names: readonly string[];
  private readonly natsUnit: NatsUnit;
  private readonly stepContext: StepContext;
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
    this.policy = policyOf(s);
    this.logs = new UnitLogs({
      logFile: deps.paths.logFile,
      maxBytes: s.logMaxBytes,
      keep: s.logKeep,
      log: deps.log,
    });
    const units = unitsFor(deps.services, deps.isolation);
    for (const spec of units) this.current.units[spec.name] = newUnitStatus(spec);
    this.desired = { nats: true, units };
    this.names = units.flatMap((u) => u.services);
    this.natsUnit = new NatsUnit({
      ...deps,
      now: this.now,
      current: this.current,
      setState: (state) => this.setNats(state),
      logFd: () => this.logs.fd("nats"),
    });
    this.stepContext = {
      log: deps.log,
      now: this.now,
      stopTimeoutMs: deps.config.supervisor.stopTimeoutMs,
      unit: (name) => this.unit(name),
      child: (name) => this.children.get(name),
      setUnit: (u, state) => this.setUnit(u, state),
      startNats: () => this.natsUnit.start(),
      stopNats: () => this.natsUnit.stop(),
      launchUnit: (name) => this.launchUnit(name),
    };
  }

  /** Starts the loops. Resolves at once; watch `ready()` or the `unit` events for progress. */
  start(): void {
    const { paths } = this.deps;
    for (const dir of [paths.run, paths.logs, paths.services]) mkdirSync(dir, { recursive: true });
    // Started before the first nats-server: its start() waits for it.
    this.natsUnit.reapStale();
    this.timer = setInterval(() => this.reconcile(), 200);
    this.healthTimer = setInterval(() => void this.checkHealth(), 250);
    this.rotateTimer = setInterval(() => this.logs.rotate(), 5000);
    this.reconcile();
  }

  /**
   * Resolves when every unit is running, rejects when one is in crash loop or `timeoutMs` passes. A unit in
   * crash loop is retried later, but start-up is reported as failed at once: that is what the caller waits for.
   */
  ready(timeoutMs = 60_000): Promise<void> {
    return whenReady(() => Object.values(this.current.units), this.now, timeoutMs);
  }

  /** Ports of services that are up, for the gateway (on its hot path: cached until a unit changes). */
  routes(): ReadonlyMap<string, number> {
    this.routeCache ??= liveRoutes(Object.values(this.current.units), this.ports, this.failedServices);
    return this.routeCache;
  }

  /** Names of every service the box is configured to run. */
  serviceNames(): readonly string[] {
    return this.names;
  }

  /** Per-service status for `nexus status`, the gateway's /metrics and the console. */
  status(): ServiceStatus[] {
    return serviceStatuses(Object.values(this.current.units), this.ports, this.failedServices, this.now());
  }

  /**
   * The shared host that takes the public port's connections: while it runs, is ready and said its gateway
   * is up. Null otherwise (process isolation, or the host is restarting): the supervisor's gateway answers.
   */
  gatewayHost(): ChildProcess | null {
    const u = this.current.units[SHARED_UNIT];
    if (u?.state !== "running" || !this.gatewayReady.has(SHARED_UNIT)) return null;
    const child = this.children.get(SHARED_UNIT);
    return child?.connected ? child : null;
  }

  /** The unix socket a running service also listens on (process isolation), else undefined: use its port. */
  serviceSocket(name: string): string | undefined {
    return this.routes().has(name) ? this.sockets.get(name) : undefined;
  }

  /** The owner-only folder of the services' unix sockets. */
  private socketDir(): string {
    const dir = join(this.deps.paths.run, "svc");
    if (!this.socketDirMade) mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.socketDirMade = true;
    return dir;
  }

  natsState() {
    const nats = this.natsUnit.server;
    return { state: this.current.nats, pid: nats?.child.pid ?? null, url: nats?.url ?? null };
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
    this.logs.closeAll();
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

  private apply(step: Step): Promise<void> {
    return applyStep(step, this.stepContext);
  }

  private async launchUnit(name: string): Promise<void> {
    const u = this.unit(name);
    const { config, paths, log } = this.deps;
    const nats = this.natsUnit.server;
    if (!nats) return;
    const from = u.state;
    for (const s of u.spec.services) if (!this.ports.has(s)) this.ports.set(s, await freePort());
    if (from === "backoff" || from === "crashloop") u.restarts++;
    if (from === "crashloop") u.crashLoopRetries++;
    u.nextStartAt = null;
    this.failedServices.delete(name);
    this.gatewayReady.delete(name);
    this.routeCache = null;
    u.killRequested = false;
    const env = hostEnv({
      paths,
      config,
      nats: { url: nats.url, ...nats.creds },
      internalToken: this.deps.internalToken,
      permissions: this.deps.permissions,
      env: this.deps.env ?? process.env,
      gateway: u.spec.name === SHARED_UNIT ? this.deps.hostGateway : undefined,
      // The shared host's gateway calls its services in-process: no sockets there.
      socketDir: u.spec.name === SHARED_UNIT ? undefined : this.socketDir(),
    });
    const child = spawnUnit(u, this.ports, {
      host: this.host,
      env,
      logFd: this.logs.fd(name),
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
    for (const s of u.spec.services) this.sockets.delete(s);
    this.gatewayReady.delete(u.spec.name);
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
    if (m?.type === GATEWAY_READY) {
      this.gatewayReady.add(u.spec.name);
      return;
    }
    if (m?.type === "log-dropped" && typeof m.lines === "number" && m.lines > 0) {
      u.logLinesDropped += m.lines;
      return;
    }
    if (m?.type !== "started" || !Array.isArray(m.services)) return;
    const dir = this.socketDir();
    for (const s of m.services as { name: string; socket?: unknown }[]) {
      if (typeof s.socket === "string" && dirname(s.socket) === dir) this.sockets.set(s.name, s.socket);
    }
    const started = new Set(m.services.map((s) => s.name));
    const failed = new Set(u.spec.services.filter((s) => !started.has(s)));
    if (failed.size > 0) this.failedServices.set(u.spec.name, failed);
    this.routeCache = null;
    // Its services listen now: probe at once instead of at the next tick of the health loop (up to 250 ms).
    this.lastProbe.delete(u.spec.name);
    void this.checkHealth();
  }

  private checkHealth(): Promise<void> {
    return probeUnits(Object.values(this.current.units), {
      now: this.now(),
      lastProbe: this.lastProbe,
      intervalMs: this.deps.config.supervisor.healthIntervalMs,
      portsOf: (u) => {
        const failed = this.failedServices.get(u.spec.name);
        return u.spec.services.filter((s) => !failed?.has(s)).map((s) => this.ports.get(s) ?? 0);
      },
      onReady: (u) => this.setUnit(u, "running"),
      onUnhealthy: () => this.reconcile(),
    });
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
