/** Builds a service's context. The runtime uses it; so do CLI commands that work on a service's data offline. */
import { join } from "node:path";
import type { NatsConnection } from "nats";
import { MetricsRegistry } from "../lib/metrics/index.js";
import { envPrefix, loadConfig } from "./config.js";
import { type Db, migrate, openDatabase } from "./db.js";
import type { ServiceContext, ServiceDefinition } from "./define-service.js";
import { loadDiskReserve } from "./disk.js";
import type { Logger } from "./logger.js";
import { addToOutbox, outboxMigrations } from "./outbox.js";
import type { PermissionDeclarations } from "./permissions.js";
import { pluginMigrations, type ServicePlugin } from "./plugin.js";

/** The database file of a service inside the data dir. */
export function serviceDbPath(dataDir: string, name: string): string {
  return join(dataDir, "services", name, `${name}.db`);
}

export function createContext<C>(
  def: ServiceDefinition<C>,
  opts: {
    dataDir: string;
    site: string;
    db: Db;
    log: Logger;
    nats: NatsConnection | null;
    env?: NodeJS.ProcessEnv;
    fileConfig?: Record<string, unknown>;
    /** The box's declared permissions (see ServiceContext.permissions); the service's own by default. */
    permissions?: PermissionDeclarations;
    /** Called after an event row is written (the relay wakes up). */
    onEmit?: () => void;
    /** The wall clock of the sync HLC (tests move it). */
    now?: () => number;
    /** The host's registry (one per process); offline tools get a throwaway one. */
    metrics?: MetricsRegistry;
    /** Plugins whose context members the service gets (`appliance/sync` gives `ctx.sync`). */
    plugins?: readonly ServicePlugin[];
  },
): ServiceContext<C> {
  const { db } = opts;
  const core = {
    name: def.name,
    version: def.version,
    site: opts.site,
    dataDir: join(opts.dataDir, "services", def.name),
    config: loadConfig(def.configSchema, {
      prefix: envPrefix(def.name),
      env: opts.env,
      fileValues: opts.fileConfig,
    }),
    permissions: opts.permissions ?? def.permissions,
    disk: loadDiskReserve(opts.env),
    db,
    log: opts.log,
    nats: opts.nats,
    tx: (fn) => db.transaction(fn)(),
    emit: (type, data, o) => {
      const write = () =>
        addToOutbox(db, { service: def.name, site: opts.site, type, data, subject: o?.subject });
      const id = db.inTransaction ? write() : db.transaction(write)();
      // The relay reads committed rows only; waking it after this tick sees the commit.
      if (opts.onEmit) setImmediate(opts.onEmit);
      return id;
    },
    metrics: opts.metrics ?? new MetricsRegistry(),
  } satisfies Partial<ServiceContext<C>>;
  const scope = { db, site: opts.site, service: def.name, now: opts.now, onWrite: opts.onEmit };
  const members = (opts.plugins ?? []).map((p) => p.context?.(scope) ?? {});
  // The members are those the plugins declared on ServiceContext (module augmentation).
  return Object.assign(core, ...members) as ServiceContext<C>;
}

/**
 * Opens a service's database with its migrations applied, without HTTP or bus: for `nexus admin …` on the
 * box, also while the appliance runs (SQLite WAL + busy timeout). Events written here wait in the outbox
 * until the running service's relay publishes them.
 */
export function openServiceOffline<C>(
  def: ServiceDefinition<C>,
  opts: { dataDir: string; site: string; log: Logger; plugins?: readonly ServicePlugin[] },
) {
  const db = openDatabase(serviceDbPath(opts.dataDir, def.name));
  migrate(db, [...outboxMigrations, ...pluginMigrations(opts.plugins ?? []), ...def.migrations]);
  return createContext(def, { ...opts, db, nats: null });
}
