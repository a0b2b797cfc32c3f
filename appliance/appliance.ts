/**
 * Wires one appliance together: supervisor (nats-server + service hosts), gateway on the public port, control
 * socket for the CLI. `nexus up`, the integration tests and the benchmarks all start the box through this.
 */

import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { loadManifest, registryPermissions } from "../services/registry.js";
import { boxBackups } from "./backup/box-backups.js";
import { parseDestination } from "./backup/destination.js";
import { lazyEngine } from "./backup/engine.js";
import { gpuSampler } from "./box/gpu.js";
import { cpuSampler } from "./box/resources.js";
import type { ApplianceConfig } from "./config/schema.js";
import { startControlServer } from "./control.js";
import { APPLIANCE_API, APPLIANCE_PERMISSIONS } from "./gateway/appliance-access.js";
import { lazyApplianceApi } from "./gateway/appliance-api-lazy.js";
import { loadCollectFiles } from "./gateway/collect-files.js";
import { lazyFiles, loadConsoleFiles } from "./gateway/console-files.js";
import { answerBeforeRestart, startSharedFront } from "./gateway/handoff.js";
import { identityAuth } from "./gateway/identity-auth.js";
import {
  bootstrapToken,
  bootstrapTokenAuth,
  createGateway,
  type GatewayDeps,
  GatewayMetrics,
} from "./gateway/index.js";
import { closeServer, listen, readGatewayTls, urlFor } from "./gateway/listen.js";
import type { GatewayCounts } from "./gateway/metrics.js";
import { childProcessMetrics } from "./gateway/unit-metrics.js";
import type { HostGatewaySpec } from "./host/gateway.js";
import { askChild, GATEWAY_METRICS } from "./host/gateway-ipc.js";
import { ruleFor } from "./kit/access.js";
import { type DiskReserve, diskRoom } from "./kit/disk.js";
import type { Logger } from "./kit/index.js";
import { manifestOf, type ServiceManifest } from "./kit/manifest.js";
import { mergePermissions } from "./kit/permissions.js";
import { loopbackRequest } from "./lib/loopback-http.js";
import { cmdline, readPid, removePid, writePid } from "./lib/pidfile.js";
import { applianceVersion, dataPaths, packageRoot } from "./paths.js";
import { loadProfile } from "./profiles/load.js";
import type { HardwareProfile } from "./profiles/schema.js";
import { Supervisor, type SupervisorDeps } from "./supervisor/supervisor.js";

export interface Appliance {
  supervisor: Supervisor;
  gateway: Server;
  url: string;
  port: number;
  /** The HTTPS listener's URL, when `gateway.tls` is configured. */
  tlsUrl?: string;
  /** Graceful stop: gateway closes, services drain, nats-server stops last. */
  stop(): Promise<void>;
  /** Resolves once `stop()` finished (from any cause: signal, control API). */
  stopped: Promise<void>;
  /** How the first person logs in: a one-time setup link while no admin exists. */
  firstLogin(): Promise<FirstLogin>;
}

export type FirstLogin =
  | { kind: "setup"; url: string; expiresAt: string }
  | { kind: "accounts" }
  | { kind: "bootstrap-token"; file: string }
  | { kind: "unavailable" };

/** Starts the box. Throws when another supervisor owns the data dir or the config is wrong. */
export async function startAppliance(
  config: ApplianceConfig,
  log: Logger,
  opts: {
    host?: SupervisorDeps["host"];
    /**
     * A service's manifest by name (default: the registry's). Only manifests: the supervisor never loads a
     * service's code, the service hosts do (test fixtures pass their definitions, which hold one).
     */
    loadManifest?: (name: string) => Promise<ServiceManifest>;
    env?: NodeJS.ProcessEnv;
    /** Lines the supervisor's own logger dropped (its log disk full), for /metrics. */
    logLinesDropped?: () => number;
  } = {},
): Promise<Appliance> {
  const paths = dataPaths(config.dataDir);
  const other = readPid(paths.supervisorPid);
  if (other && other !== process.pid && cmdline(other).includes("node")) {
    throw new Error(
      `another supervisor (pid ${other}) is running on ${paths.root}; run \`nexus stop\` first`,
    );
  }
  const profile = loadProfile(config.profile);
  const names = config.services ?? profile.services;
  if (names.includes(APPLIANCE_API))
    throw new Error(`"${APPLIANCE_API}" is reserved for the gateway's own API`);
  const services = await Promise.all(
    names.map(async (n) => manifestOf(await (opts.loadManifest ?? loadManifest)(n))),
  );
  // Every permission of the box: the gateway's own, every registered service's (installed or not, so the
  // built-in roles are the same on every box), and those of services loaded from elsewhere (test fixtures).
  const permissions = mergePermissions([
    APPLIANCE_PERMISSIONS,
    ...registryPermissions(),
    ...services.map((d) => d.permissions),
  ]);
  const isolation = config.isolation ?? profile.isolation;
  config = {
    ...config,
    serviceConfig: withMediaDefaults(
      mergeServiceConfig(aiProviders(profile), config.serviceConfig),
      profile.ffmpeg.h264Encoders,
    ),
  };
  const version = applianceVersion();

  const internalToken = randomBytes(32).toString("base64url");
  const rules = new Map(services.map((d) => [d.name, d.access]));
  // With identity installed every caller is a real account; the bootstrap token is only for boxes without it.
  const withIdentity = names.includes("identity");
  // Shared isolation: the gateway runs in the shared host too, next to the services (gateway/handoff.ts).
  const privateSocket = join(paths.run, "gateway.sock");
  const hostGateway: HostGatewaySpec | undefined =
    isolation === "shared"
      ? {
          config: config.gateway,
          corsOrigins: config.cors.allowedOrigins,
          socket: privateSocket,
          version,
          site: config.site,
          auth: withIdentity ? { kind: "identity" } : { kind: "token", file: paths.adminToken },
        }
      : undefined;
  const supervisor = new Supervisor({
    config,
    paths,
    services,
    isolation,
    log,
    host: opts.host,
    internalToken,
    permissions,
    env: opts.env,
    hostGateway,
  });
  const metrics = new GatewayMetrics({
    units: () => childProcessMetrics(supervisor.status(), supervisor.natsState().pid, internalToken),
    remote: async () => {
      const host = supervisor.gatewayHost();
      return host ? askChild<GatewayCounts>(host, GATEWAY_METRICS, 2000) : null;
    },
  });
  const auth = withIdentity
    ? identityAuth({
        port: () => supervisor.routes().get("identity"),
        internalToken,
        site: config.site,
        log: log.child({ component: "auth" }),
      })
    : bootstrapTokenAuth(bootstrapToken(paths.adminToken));
  const backups = boxBackups({
    config: config.backup,
    dataDir: paths.root,
    engine: lazyEngine(parseDestination),
    log: log.child({ component: "backup" }),
  });
  const applianceApi = lazyApplianceApi({
    backups,
    units: hostGateway ? answerBeforeRestart(supervisor, log) : supervisor,
    logsDir: paths.logs,
    auth,
    log: log.child({ component: "appliance-api" }),
    streams: { max: config.gateway.sseMaxStreams, perUser: config.gateway.sseMaxStreamsPerUser },
    status: {
      version,
      site: config.site,
      dataDir: paths.root,
      diskReserve: config.disk,
      services: () => supervisor.status(),
      nats: () => supervisor.natsState(),
      cpuPercent: cpuSampler(),
      gpus: gpuSampler(),
    },
  });
  const gatewayDeps: GatewayDeps = {
    config: config.gateway,
    log: log.child({ component: "gateway" }),
    version,
    auth,
    metrics,
    internalToken,
    route: (service, method, path) => ruleFor(rules.get(service), method, path),
    routes: () => supervisor.routes(),
    socket: (name) => supervisor.serviceSocket(name),
    services: () => supervisor.serviceNames(),
    gauges: () => supervisor.status(),
    box: () => ({
      disk: dataDiskRoom(paths.root, config.disk),
      supervisorLogLinesDropped: opts.logLinesDropped?.() ?? 0,
      backup: backups.gauges(),
    }),
    applianceApi,
    corsOrigins: config.cors.allowedOrigins,
    consoleFiles: lazyFiles(() => loadConsoleFiles(join(packageRoot(), "dist", "console"))),
    collectFiles: lazyFiles(() => loadCollectFiles(join(packageRoot(), "dist", "collect"))),
  };
  const gateway = createGateway(gatewayDeps);
  const front = hostGateway
    ? await startSharedFront(gateway, createGateway(gatewayDeps), privateSocket, () =>
        supervisor.gatewayHost(),
      )
    : null;
  const tls = config.gateway.tls;
  const secure = tls ? createGateway(gatewayDeps, readGatewayTls(tls)) : null;

  // The data dir holds secrets (credentials, databases with signing keys): owner-only.
  mkdirSync(paths.root, { recursive: true, mode: 0o700 });
  chmodSync(paths.root, 0o700);
  supervisor.start();
  writePid(paths.supervisorPid, process.pid);
  let port: number;
  let tlsUrl: string | undefined;
  try {
    port = await listen(front?.server ?? gateway, config.port, config.host);
    if (secure && tls) tlsUrl = urlFor("https", tls.host, await listen(secure, tls.port, tls.host));
  } catch (err) {
    // Port taken, bad address: take down what already started instead of leaving it running.
    await closeServer(gateway);
    await front?.close();
    await supervisor.stop();
    removePid(paths.supervisorPid);
    throw err;
  }
  backups.start();
  const url = urlFor("http", config.host, port);

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      log.info("stopping appliance");
      await Promise.all([closeServer(gateway), secure ? closeServer(secure) : undefined, front?.close()]);
      control.close();
      await backups.stop();
      await supervisor.stop();
      metrics.close();
      removePid(paths.supervisorPid);
      removePid(paths.controlSocket);
      log.info("appliance stopped");
      resolveStopped();
    })();
    return stopping;
  };
  let control: Server;
  try {
    control = await startControlServer(paths.controlSocket, {
      supervisor,
      version,
      gatewayUrl: url,
      requestStop: () => void stop(),
      log: log.child({ component: "control" }),
    });
  } catch (err) {
    await Promise.all([closeServer(gateway), secure ? closeServer(secure) : undefined, front?.close()]);
    await backups.stop();
    await supervisor.stop();
    removePid(paths.supervisorPid);
    throw err;
  }
  const firstLogin = async (): Promise<FirstLogin> => {
    if (!withIdentity) return { kind: "bootstrap-token", file: paths.adminToken };
    const port = supervisor.routes().get("identity");
    if (!port) return { kind: "unavailable" };
    const res = await loopbackRequest(port, "/internal/setup-token", {
      method: "POST",
      headers: { "x-nexus-internal": internalToken },
      timeoutMs: 10_000,
    });
    const { setup } = JSON.parse(res.body) as { setup: { token: string; expiresAt: string } | null };
    if (!setup) return { kind: "accounts" };
    return { kind: "setup", url: `${url}/setup?token=${setup.token}`, expiresAt: setup.expiresAt };
  };
  return { supervisor, gateway, url, port, tlsUrl, stop, stopped, firstLogin };
}

/** The profile's per-service settings overlaid key by key with the box's own. */
/** The profile's service config, with its ONNX execution providers given to the AI service (unless set there). */
function aiProviders(profile: HardwareProfile): ApplianceConfig["serviceConfig"] {
  const sc = profile.serviceConfig ?? {};
  return { ...sc, ai: { executionProviders: profile.onnx.executionProviders, ...sc.ai } };
}

function mergeServiceConfig(
  profile: ApplianceConfig["serviceConfig"],
  box: ApplianceConfig["serviceConfig"],
): ApplianceConfig["serviceConfig"] {
  const out: ApplianceConfig["serviceConfig"] = { ...profile };
  for (const [name, values] of Object.entries(box)) out[name] = { ...(out[name] ?? {}), ...values };
  return out;
}

/**
 * Media reads the profile's encoder preference (unless config sets its own) and the files and forms services'
 * blob-store settings, so it opens the stores they write; the AI service reads uploaded files' content the same way.
 */
function withMediaDefaults(
  merged: ApplianceConfig["serviceConfig"],
  h264Encoders: readonly string[],
): ApplianceConfig["serviceConfig"] {
  return {
    ...merged,
    media: {
      h264Encoders,
      ...(merged.media ?? {}),
      sourceFiles: merged.files ?? {},
      sourceForms: merged.forms ?? {},
    },
    ai: { ...(merged.ai ?? {}), sourceFiles: merged.files ?? {}, sourceForms: merged.forms ?? {} },
  };
}

/** The data disk against its reserve; null while the data dir is not there (being removed). */
function dataDiskRoom(root: string, reserve: DiskReserve) {
  try {
    return diskRoom(root, reserve);
  } catch {
    return null;
  }
}
