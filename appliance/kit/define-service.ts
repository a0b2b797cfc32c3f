/**
 * `defineService({...})`: the whole contract between a service folder and the appliance. A service is data
 * plus plain functions; the runtime gives it an HTTP app, a database, events and config.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { NatsConnection } from "nats";
import { z } from "zod";
import type { MetricsRegistry } from "../lib/metrics/index.js";
import { SERVICE_NAME } from "../lib/names.js";
import type { Db, Migration } from "./db.js";
import type { DiskReserve } from "./disk.js";
import type { Logger } from "./logger.js";
import type { ServiceManifest } from "./manifest.js";
import type { Subscription } from "./nats.js";
import { checkPermissions, type PermissionDeclarations } from "./permissions.js";

/**
 * What a service's routes, subscriptions and health check receive. Passed explicitly; no singletons.
 * Runtime plugins add members by module augmentation (`appliance/sync/plugin.ts` adds `sync`).
 */
export interface ServiceContext<C = unknown> {
  name: string;
  version: string;
  site: string;
  dataDir: string;
  config: C;
  /**
   * Every permission declared on this box (the gateway's and each known service's): identity builds its
   * built-in roles and its catalogue from it. The supervisor passes it; without one, the service's own.
   */
  permissions: PermissionDeclarations;
  /** The box's disk reserve: uploads and blob writes leave it free (see disk.ts). */
  disk: DiskReserve;
  db: Db;
  log: Logger;
  /** null when the service runs without a message bus (unit tests); events then wait in the outbox. */
  nats: NatsConnection | null;
  /** Runs `fn` in one SQLite transaction; events emitted inside commit or roll back with it. */
  tx<T>(fn: () => T): T;
  /** Records an event in the outbox (inside the current transaction, or its own). Returns the event id. */
  emit(type: string, data: unknown, opts?: { subject?: string }): string;
  /** This process's counters and gauges, shown on the gateway's /metrics with the process's `unit` label. */
  metrics: Pick<MetricsRegistry, "counter" | "gauge">;
}

export type HealthResult = { ok: true } | { ok: false; reason: string };

/**
 * A service: its manifest (the data the supervisor reads, `manifest.ts`) and its code. Runtime plugins add
 * optional members by module augmentation (sync adds `syncApply`).
 */
export interface ServiceDefinition<C = unknown> extends ServiceManifest {
  configSchema: z.ZodType<C>;
  migrations: Migration[];
  routes: (app: OpenAPIHono, ctx: ServiceContext<C>) => void;
  subscriptions: (ctx: ServiceContext<C>) => Subscription[];
  /** Runs after migrations, before the service takes requests. */
  onStart: (ctx: ServiceContext<C>) => Promise<void> | void;
  health: (ctx: ServiceContext<C>) => Promise<HealthResult> | HealthResult;
}

type Input<C> = Pick<ServiceDefinition<C>, "name" | "version" | "routes"> &
  Partial<Omit<ServiceDefinition<C>, "name" | "version" | "routes">>;

/** Declares a service. Fills defaults; validates the name, the migration ids and the permissions. */
export function defineService<C = Record<string, never>>(def: Input<C>): ServiceDefinition<C> {
  if (!SERVICE_NAME.test(def.name)) throw new Error(`service name must match ${SERVICE_NAME}: ${def.name}`);
  const migrations = def.migrations ?? [];
  for (const m of migrations) {
    if (!/^\d{10}_[a-z0-9_]+$/.test(m.id))
      throw new Error(`${def.name}: migration id must be <unix-ts>_<what>: ${m.id}`);
  }
  checkPermissions(def.name, def.permissions ?? {}, def.access ?? []);
  return {
    description: "",
    dependsOn: [],
    access: [],
    permissions: {},
    configSchema: z.object({}) as unknown as z.ZodType<C>,
    subscriptions: () => [],
    onStart: () => undefined,
    health: () => ({ ok: true }),
    ...def,
    migrations,
  } satisfies ServiceDefinition<C>;
}
