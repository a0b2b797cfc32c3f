/**
 * A service host process. The supervisor starts one per service (`isolation: process`) or one for all
 * services (`isolation: shared`); the same service code runs in both. Configuration comes in env:
 *   NEXUS_HOST_SERVICES  name:port,name:port   NEXUS_DATA_DIR  NEXUS_SITE  NEXUS_LOG_LEVEL
 *   NEXUS_NATS_URL  NEXUS_NATS_USER  NEXUS_NATS_PASS (removed from env once read)
 *   NEXUS_HOST_SERVICE_CONFIG  JSON { <service>: { <key>: value } } from the profile and config.json
 *   NEXUS_HOST_PERMISSIONS  JSON: every permission declared on the box (for identity's built-in roles)
 * The host exits when the supervisor goes away (IPC disconnect), so a killed supervisor leaves no orphans.
 */
import { join } from "node:path";
import {
  createLogger,
  LogDestination,
  type PermissionDeclarations,
  type RunningService,
  type ServiceDefinition,
  startService,
} from "../kit/index.js";
import { MetricsRegistry, startProcessSampler } from "../lib/metrics/index.js";
import { syncPlugin } from "../sync/plugin.js";
import { drainHostGateway, hostGatewaySpec, startHostGateway } from "./gateway.js";

/** Resolves a service name to its definition (the registry in production, fixtures in tests). */
export type ServiceLoader = (name: string) => Promise<ServiceDefinition<unknown>>;

/** Parses `name:port,name:port`. */
export function parseHostServices(value: string): { name: string; port: number }[] {
  return value
    .split(",")
    .filter(Boolean)
    .map((s) => {
      const [name = "", port = ""] = s.split(":");
      return { name, port: Number(port) };
    });
}

/** Runs the host until SIGTERM or the supervisor goes away. */
export function runHost(loadService: ServiceLoader, env: NodeJS.ProcessEnv = process.env): void {
  const destination = new LogDestination(1);
  const log = createLogger({ level: env.NEXUS_LOG_LEVEL ?? "info", name: "host", destination });
  reportLogDrops(destination);
  const nats = env.NEXUS_NATS_URL
    ? { url: env.NEXUS_NATS_URL, user: env.NEXUS_NATS_USER, pass: env.NEXUS_NATS_PASS, name: "" }
    : null;
  delete env.NEXUS_NATS_PASS;
  const specs = parseHostServices(env.NEXUS_HOST_SERVICES ?? "");
  const serviceConfig = JSON.parse(env.NEXUS_HOST_SERVICE_CONFIG || "{}") as Record<
    string,
    Record<string, unknown>
  >;
  const permissions = env.NEXUS_HOST_PERMISSIONS
    ? (JSON.parse(env.NEXUS_HOST_PERMISSIONS) as PermissionDeclarations)
    : undefined;
  const running: RunningService[] = [];
  const rules = new Map<string, ServiceDefinition<unknown>["access"]>();
  const gatewaySpec = hostGatewaySpec(env);
  // One per process: each service's app serves the same numbers; the gateway asks one of them per host.
  const metrics = new MetricsRegistry(startProcessSampler());
  let stopping = false;
  let gateway: ReturnType<typeof startHostGateway>["server"] | null = null;

  async function main() {
    if (specs.length === 0) throw new Error("NEXUS_HOST_SERVICES is empty");
    const shared = specs.length > 1;
    for (const spec of specs) {
      try {
        const def = await loadService(spec.name);
        const svc = await startService(def, {
          dataDir: env.NEXUS_DATA_DIR ?? ".",
          site: env.NEXUS_SITE ?? "local",
          log,
          port: spec.port,
          socketPath: env.NEXUS_HOST_SOCKET_DIR
            ? join(env.NEXUS_HOST_SOCKET_DIR, `${spec.name}.sock`)
            : undefined,
          nats: nats ? { ...nats, name: `nexus-${spec.name}` } : null,
          bodyLimitBytes: Number(env.NEXUS_SERVICE_BODY_LIMIT_BYTES ?? 10 * 1024 * 1024),
          internalToken: env.NEXUS_INTERNAL_TOKEN || undefined,
          env,
          fileConfig: serviceConfig[spec.name],
          permissions,
          metrics,
          plugins: [syncPlugin],
        });
        running.push(svc);
        rules.set(def.name, def.access);
      } catch (err) {
        log.error({ err, service: spec.name }, "service failed to start");
        // One process per service: exit so the supervisor's backoff applies. Shared: the others keep
        // serving; the failed one is reported and the supervisor marks it failed.
        if (!shared) throw err;
      }
    }
    process.send?.({
      type: "started",
      services: running.map((s) => ({ name: s.name, port: s.port, socket: s.socket })),
    });
    if (gatewaySpec)
      gateway = startHostGateway(gatewaySpec, running, {
        internalToken: env.NEXUS_INTERNAL_TOKEN ?? "",
        log,
        rules,
      }).server;
  }

  async function shutdown(reason: string) {
    if (stopping) return;
    stopping = true;
    log.info({ reason }, "stopping services");
    if (gateway) await drainHostGateway(gateway, 1000);
    await Promise.allSettled(running.map((s) => s.stop()));
    process.exit(0);
  }

  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("disconnect", () => void shutdown("supervisor gone"));
  main().catch((err) => {
    log.fatal({ err }, "host failed");
    process.exit(1);
  });
}

const REPORT_MS = 1000;

/**
 * Tells the supervisor, at most once a second, how many more log lines were dropped (the log disk was full),
 * so /metrics counts them: the lines themselves could not say so.
 */
function reportLogDrops(destination: LogDestination): void {
  let reported = 0;
  const timer = setInterval(() => {
    const lines = destination.dropped - reported;
    if (lines <= 0 || !process.connected) return;
    process.send?.({ type: "log-dropped", lines });
    reported += lines;
  }, REPORT_MS);
  timer.unref();
}
