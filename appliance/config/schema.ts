/** The appliance's one config schema (supervisor + gateway). Parsed once at start and passed down. */
import { z } from "zod";
import { backupConfigSchema } from "../backup/config.js";
import { diskReserveSchema } from "../kit/disk.js";
import { SITE_ID } from "../lib/names.js";

export const gatewayConfigSchema = z.object({
  bodyLimitBytes: z
    .number()
    .int()
    .positive()
    .default(10 * 1024 * 1024),
  /** Requests per IP per window before 429. */
  rateLimitMax: z.number().int().positive().default(1200),
  rateLimitWindowMs: z.number().int().positive().default(60_000),
  /** A client must send its headers within this time (slowloris guard). */
  headersTimeoutMs: z.number().int().positive().default(10_000),
  /** The whole request must arrive within this time. */
  requestTimeoutMs: z.number().int().positive().default(60_000),
  /** Streaming routes (uploads): the request is cut when no byte arrives for this long. */
  uploadIdleTimeoutMs: z.number().int().positive().default(30_000),
  /** Upstream (service) response timeout. */
  upstreamTimeoutMs: z.number().int().positive().default(60_000),
  /** Live streams (SSE: status events, log follows) open at once on the box; more get 429. */
  sseMaxStreams: z.number().int().positive().default(64),
  /** Live streams one caller may hold open at once, so one user cannot take the whole budget. */
  sseMaxStreamsPerUser: z.number().int().positive().default(8),
  /** When true, /metrics needs no token (for a Prometheus on a trusted network). */
  metricsPublic: z.boolean().default(false),
  /**
   * A second, HTTPS listener for the LAN (docs/operations.md#https), beside the plain one on `host`/`port`,
   * which local tools (the upgrade's health gate, `nexus doctor`) keep using on loopback.
   */
  tls: z
    .object({
      host: z.string().min(1).default("0.0.0.0"),
      port: z.number().int().min(0).max(65535).default(8443),
      /** PEM certificate (chain) and private key files, readable by the appliance's user. */
      certFile: z.string().min(1),
      keyFile: z.string().min(1),
    })
    .strict()
    .optional(),
});

/**
 * Whether `value` is an exact browser origin: http or https, a host, a port only when not the default, and
 * nothing else (no path, no trailing slash, no wildcard, lower case), i.e. what a browser sends in `Origin`.
 */
export function isExactOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.origin === value;
  } catch {
    return false;
  }
}

const allowedOrigin = z
  .string()
  .refine((o) => !o.includes("*"), {
    message: "'*' is not allowed: list each origin exactly (the API takes credentials; see docs/api.md#cors)",
  })
  .refine((o) => o.includes("*") || isExactOrigin(o), {
    message: "not an exact origin: write it as the browser sends it, e.g. https://app.example.org (no path)",
  });

/** Cross-origin access from browsers (gateway/cors.ts): off while `allowedOrigins` is empty. */
export const corsConfigSchema = z
  .object({
    /** Origins whose pages may call the API from a browser, each exactly as the browser sends it. */
    allowedOrigins: z.array(allowedOrigin).max(100).default([]),
  })
  .strict();

export const supervisorConfigSchema = z.object({
  healthIntervalMs: z.number().int().positive().default(2000),
  startTimeoutMs: z.number().int().positive().default(30_000),
  stopTimeoutMs: z.number().int().positive().default(10_000),
  backoffBaseMs: z.number().int().positive().default(500),
  backoffMaxMs: z.number().int().positive().default(30_000),
  /** This many failures inside the window puts a unit in crash-loop state. */
  crashLoopThreshold: z.number().int().positive().default(5),
  crashLoopWindowMs: z.number().int().positive().default(120_000),
  /**
   * A unit in crash loop is still retried: first after this long, then twice as long after each failed retry,
   * up to `crashLoopRetryMaxMs`. Running for a whole `crashLoopWindowMs` ends the crash loop.
   */
  crashLoopRetryBaseMs: z.number().int().positive().default(30_000),
  crashLoopRetryMaxMs: z.number().int().positive().default(300_000),
  /** Consecutive failed health checks before a running unit is restarted. */
  unhealthyAfter: z.number().int().positive().default(3),
  logMaxBytes: z
    .number()
    .int()
    .positive()
    .default(10 * 1024 * 1024),
  logKeep: z.number().int().min(1).max(50).default(5),
});

export const applianceConfigSchema = z.object({
  dataDir: z.string().min(1),
  host: z.string().min(1).default("127.0.0.1"),
  port: z.number().int().min(0).max(65535).default(8080),
  /** Site id: names this box to the hub and is its JetStream domain. */
  site: z.string().regex(SITE_ID, "site: lower-case letters, digits and '-'").default("local"),
  profile: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/)
    .default("generic-x86_64"),
  /** Overrides the profile's isolation mode. */
  isolation: z.enum(["process", "shared"]).optional(),
  /** Overrides the profile's service set. */
  services: z.array(z.string()).optional(),
  /** Per-service settings (`{ "files": { "backend": "s3", … } }`), over the profile's; NEXUS_<SERVICE>_* env wins. */
  serviceConfig: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
  natsServer: z.string().default("nats-server"),
  gateway: gatewayConfigSchema.default(gatewayConfigSchema.parse({})),
  cors: corsConfigSchema.default(corsConfigSchema.parse({})),
  supervisor: supervisorConfigSchema.default(supervisorConfigSchema.parse({})),
  /** The disk reserve uploads may not consume (`NEXUS_DISK_RESERVE_PERCENT`, `NEXUS_DISK_RESERVE_BYTES`). */
  disk: diskReserveSchema.default(diskReserveSchema.parse({})),
  /** Backups: destination, schedule, retention, key (appliance/backup/config.ts). */
  backup: backupConfigSchema.default(backupConfigSchema.parse({})),
});

export type ApplianceConfig = z.infer<typeof applianceConfigSchema>;
export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type CorsConfig = z.infer<typeof corsConfigSchema>;
export type SupervisorConfig = z.infer<typeof supervisorConfigSchema>;
