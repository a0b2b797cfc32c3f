/**
 * Runtime plugins: how a layer above the kit adds to every service without the kit importing it (the
 * runtime takes `appliance/sync` as one, as Caddy takes modules). A plugin brings tables, members of the
 * service context and background work; whoever starts services passes the plugins (`appliance/host`,
 * `nexus admin`, tests).
 *
 * A plugin that adds context members declares them on `ServiceContext` (and options on
 * `ServiceDefinition`) by module augmentation of `./define-service.js`, as Hono middleware declares its
 * context variables; its `context` hook supplies those members.
 */
import type { NatsConnection } from "nats";
import type { Db, Migration } from "./db.js";
import type { ServiceContext, ServiceDefinition } from "./define-service.js";
import type { Logger } from "./logger.js";
import type { RelayOptions } from "./outbox.js";

/** What a plugin's hooks get about the service database they work on. */
export interface PluginScope {
  db: Db;
  site: string;
  service: string;
  log: Logger;
}

export interface ServicePlugin {
  name: string;
  /** Tables the plugin owns, migrated after the kit's outbox and before the service's own migrations. */
  migrations?: Migration[];
  /** Runs once the database is migrated, before the bus connects and the outbox relay starts. */
  prepare?(scope: PluginScope): void;
  /**
   * The context members the plugin declared on `ServiceContext`. `onWrite` wakes the outbox relay (call it
   * after writing outbox rows); `now` is the wall clock tests move.
   */
  context?(scope: Omit<PluginScope, "log"> & { now?: () => number; onWrite?: () => void }): object;
  /** How the service's outbox relay publishes (a packer for the plugin's rows, batch size, linger). */
  relay?(scope: PluginScope): Partial<RelayOptions>;
  /**
   * Starts the plugin's background work for a running service: after `onStart` and the subscriptions, before
   * the outbox relay. `stop` is called before the relay stops. `nc` is null without a message bus.
   */
  start?(
    scope: PluginScope & {
      def: ServiceDefinition<unknown>;
      ctx: ServiceContext<unknown>;
      nc: NatsConnection | null;
      /** Wakes the outbox relay. */
      wake?: () => void;
    },
  ): Promise<{ stop(): void }>;
}

/** The plugins' tables, in plugin order. */
export function pluginMigrations(plugins: readonly ServicePlugin[]): Migration[] {
  return plugins.flatMap((p) => p.migrations ?? []);
}
