/** Loads the appliance config: defaults < <data>/config.json < NEXUS_* env < CLI flags. */
import { existsSync, readFileSync } from "node:fs";
import { backupConfigSchema } from "../backup/config.js";
import { loadConfig } from "../kit/config.js";
import { loadDiskReserve } from "../kit/disk.js";
import { dataPaths, defaultDataDir } from "../paths.js";
import {
  type ApplianceConfig,
  applianceConfigSchema,
  corsConfigSchema,
  gatewayConfigSchema,
  supervisorConfigSchema,
} from "./schema.js";

export interface ConfigOverrides {
  dataDir?: string;
  port?: number;
  host?: string;
  isolation?: "process" | "shared";
}

/** Resolves the data dir alone (CLI commands that only read files need no more). */
export function resolveDataDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.NEXUS_DATA_DIR ?? defaultDataDir();
}

/** Reads and validates the whole config; throws a readable error naming each bad key. */
export function loadApplianceConfig(
  overrides: ConfigOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
): ApplianceConfig {
  const dataDir = resolveDataDir(overrides.dataDir, env);
  const file = dataPaths(dataDir).config;
  let fileValues: Record<string, unknown> = {};
  if (existsSync(file)) {
    try {
      fileValues = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
    }
  }
  const envServices = env.NEXUS_SERVICES?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const top = loadConfig(
    applianceConfigSchema.omit({
      gateway: true,
      supervisor: true,
      services: true,
      cors: true,
      disk: true,
      backup: true,
    }),
    {
      prefix: "NEXUS_",
      env,
      fileValues: { ...fileValues, dataDir },
    },
  );
  const gateway = loadConfig(gatewayConfigSchema, {
    prefix: "NEXUS_GATEWAY_",
    env,
    fileValues: (fileValues.gateway as Record<string, unknown>) ?? {},
  });
  // NEXUS_CORS_ALLOWED_ORIGINS is a comma list, like NEXUS_SERVICES.
  const envOrigins = env.NEXUS_CORS_ALLOWED_ORIGINS?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const cors = loadConfig(corsConfigSchema, {
    prefix: "NEXUS_CORS_",
    env: {},
    fileValues: {
      ...((fileValues.cors as Record<string, unknown>) ?? {}),
      ...(envOrigins ? { allowedOrigins: envOrigins } : {}),
    },
  });
  const supervisor = loadConfig(supervisorConfigSchema, {
    prefix: "NEXUS_SUPERVISOR_",
    env,
    fileValues: (fileValues.supervisor as Record<string, unknown>) ?? {},
  });
  const backup = loadConfig(backupConfigSchema, {
    prefix: "NEXUS_BACKUP_",
    env,
    fileValues: (fileValues.backup as Record<string, unknown>) ?? {},
  });
  const disk = loadDiskReserve(env, (fileValues.disk as Record<string, unknown>) ?? {});
  const merged = {
    ...top,
    services: envServices ?? (fileValues.services as string[] | undefined),
    gateway,
    cors,
    supervisor,
    disk,
    backup,
    dataDir,
    ...(overrides.port !== undefined ? { port: overrides.port } : {}),
    ...(overrides.host !== undefined ? { host: overrides.host } : {}),
    ...(overrides.isolation !== undefined ? { isolation: overrides.isolation } : {}),
  };
  return applianceConfigSchema.parse(merged);
}
