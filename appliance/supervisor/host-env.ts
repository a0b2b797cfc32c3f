/** The environment a service host starts with: only what it needs, never the supervisor's own settings. */
import type { ApplianceConfig } from "../config/schema.js";
import type { PermissionDeclarations } from "../kit/index.js";
import type { DataPaths } from "../paths.js";

/** Supervisor and gateway settings, and what the supervisor sets itself: never passed through from outside. */
const OWN =
  /^NEXUS_(DATA_DIR|PORT|HOST|SITE|PROFILE|ISOLATION|SERVICES|LOG_LEVEL|NATS_|GATEWAY_|SUPERVISOR_|HOST_|INTERNAL_|DISK_)/;

/** Service settings (`NEXUS_<SERVICE>_*`) from the environment the appliance was started with. */
export function serviceSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("NEXUS_") && !OWN.test(k)));
}

export function hostEnv(opts: {
  paths: DataPaths;
  config: ApplianceConfig;
  nats: { url: string; user: string; pass: string };
  internalToken?: string;
  /** Every permission declared on the box; identity composes its built-in roles from it. */
  permissions?: PermissionDeclarations;
  env: NodeJS.ProcessEnv;
  /** The shared host's gateway (host/gateway.ts); only the shared unit gets one. */
  gateway?: object;
  /** Where the host's services also listen on unix sockets (`<name>.sock`), for the supervisor's gateway. */
  socketDir?: string;
}): NodeJS.ProcessEnv {
  const { config, env } = opts;
  return {
    // Pass-through first, so nothing from outside can override what the supervisor sets below.
    ...serviceSettings(env),
    PATH: env.PATH,
    // The GPU libraries a bundle carries (installer/bundle/gpu-libs.ts): the launcher puts lib/gpu here, and
    // onnxruntime's CUDA/TensorRT providers in the AI service's host find cuDNN/cuBLAS/TensorRT through it.
    LD_LIBRARY_PATH: env.LD_LIBRARY_PATH,
    HOME: env.HOME,
    NODE_ENV: env.NODE_ENV,
    NEXUS_DATA_DIR: opts.paths.root,
    NEXUS_SITE: config.site,
    NEXUS_LOG_LEVEL: config.logLevel,
    NEXUS_NATS_URL: opts.nats.url,
    NEXUS_NATS_USER: opts.nats.user,
    NEXUS_NATS_PASS: opts.nats.pass,
    NEXUS_SERVICE_BODY_LIMIT_BYTES: String(config.gateway.bodyLimitBytes),
    NEXUS_INTERNAL_TOKEN: opts.internalToken,
    NEXUS_HOST_SERVICE_CONFIG: JSON.stringify(config.serviceConfig),
    NEXUS_HOST_PERMISSIONS: opts.permissions && JSON.stringify(opts.permissions),
    // Box-wide, resolved once here (config.json and env), so every service holds back the same reserve.
    NEXUS_DISK_RESERVE_PERCENT: String(config.disk.reservePercent),
    NEXUS_DISK_RESERVE_BYTES: String(config.disk.reserveBytes),
    NEXUS_HOST_GATEWAY: opts.gateway && JSON.stringify(opts.gateway),
    NEXUS_HOST_SOCKET_DIR: opts.socketDir,
  };
}
