/**
 * Entry of a service host process. The supervisor starts one per service (`isolation: process`) or one for
 * all services (`isolation: shared`); the same service code runs in both. Configuration comes in env:
 *   NEXUS_HOST_SERVICES  name:port,name:port   NEXUS_DATA_DIR  NEXUS_SITE  NEXUS_LOG_LEVEL
 *   NEXUS_NATS_URL  NEXUS_NATS_USER  NEXUS_NATS_PASS (removed from env once read)
 * The host exits when the supervisor goes away (IPC disconnect), so a killed supervisor leaves no orphans.
 */

import { loadService } from "../../services/registry.js";
import { createLogger, type RunningService, startService } from "../kit/index.js";

const env = process.env;
const log = createLogger({ level: env.NEXUS_LOG_LEVEL ?? "info", name: "host" });
const nats = env.NEXUS_NATS_URL
  ? { url: env.NEXUS_NATS_URL, user: env.NEXUS_NATS_USER, pass: env.NEXUS_NATS_PASS, name: "" }
  : null;
delete env.NEXUS_NATS_PASS;

const specs = (env.NEXUS_HOST_SERVICES ?? "")
  .split(",")
  .filter(Boolean)
  .map((s) => {
    const [name, port] = s.split(":");
    return { name: name ?? "", port: Number(port) };
  });

const running: RunningService[] = [];
let stopping = false;

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
        nats: nats ? { ...nats, name: `nexus-${spec.name}` } : null,
        bodyLimitBytes: Number(env.NEXUS_SERVICE_BODY_LIMIT_BYTES ?? 10 * 1024 * 1024),
      });
      running.push(svc);
    } catch (err) {
      log.error({ err, service: spec.name }, "service failed to start");
      // One process per service: exit so the supervisor's backoff applies. Shared: the others keep serving;
      // the failed one never turns ready and the supervisor reports it.
      if (!shared) throw err;
    }
  }
  process.send?.({ type: "started", services: running.map((s) => ({ name: s.name, port: s.port })) });
}

async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "stopping services");
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
