/**
 * Starts one service in the current process: config, database + migrations, bus, outbox relay,
 * subscriptions, the plugins' work (sync: acknowledgements, hub records) and HTTP server. Both isolation
 * modes call this; only the number of calls per process differs.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { NatsConnection } from "nats";
import type { MetricsRegistry } from "../lib/metrics/index.js";
import { createServiceApp } from "./app.js";
import { createContext, serviceDbPath } from "./context.js";
import { migrate, openDatabase } from "./db.js";
import type { ServiceContext, ServiceDefinition } from "./define-service.js";
import type { Logger } from "./logger.js";
import { connectNats, type NatsOptions, runSubscription } from "./nats.js";
import { OutboxRelay, outboxMigrations } from "./outbox.js";
import type { PermissionDeclarations } from "./permissions.js";
import { pluginMigrations, type ServicePlugin } from "./plugin.js";
import { closeUnix, listenUnix } from "./unix-listener.js";

export interface StartOptions {
  dataDir: string;
  site: string;
  log: Logger;
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** Also listen on this unix socket (unix-listener.ts); skipped when it cannot be used. */
  socketPath?: string;
  nats: NatsOptions | null;
  bodyLimitBytes?: number;
  /** See AppOptions.internalToken. */
  internalToken?: string;
  env?: NodeJS.ProcessEnv;
  fileConfig?: Record<string, unknown>;
  /** Every permission declared on the box (ServiceContext.permissions). */
  permissions?: PermissionDeclarations;
  /** The wall clock of the sync HLC (tests move it). */
  now?: () => number;
  /** The process's metrics, served at `/internal/metrics` (one registry for every service of a host). */
  metrics?: MetricsRegistry;
  /** Runtime plugins, in order (the host passes `appliance/sync`'s). */
  plugins?: readonly ServicePlugin[];
}

export interface RunningService {
  name: string;
  port: number;
  /** The unix socket it also listens on, if any. */
  socket: string | null;
  ctx: ServiceContext<unknown>;
  app: ReturnType<typeof createServiceApp>;
  relay: OutboxRelay | null;
  stop(): Promise<void>;
}

/** Starts a service and resolves once it listens. On failure everything opened so far is closed. */
export async function startService<C>(
  def: ServiceDefinition<C>,
  opts: StartOptions,
): Promise<RunningService> {
  const log = opts.log.child({ service: def.name });
  const db = openDatabase(serviceDbPath(opts.dataDir, def.name));
  let nc: NatsConnection | null = null;
  let relay: OutboxRelay | null = null;
  const plugins = opts.plugins ?? [];
  const started: { stop(): void }[] = [];
  const stopPlugins = () => {
    for (const p of started.splice(0)) p.stop();
  };
  try {
    migrate(db, [...outboxMigrations, ...pluginMigrations(plugins), ...def.migrations]);
    const scope = { db, site: opts.site, service: def.name, log };
    for (const p of plugins) p.prepare?.(scope);
    nc = opts.nats ? await connectNats(opts.nats) : null;
    const relayOpts = Object.assign({}, ...plugins.map((p) => p.relay?.(scope) ?? {}));
    relay = nc ? new OutboxRelay(db, nc.jetstream(), log, relayOpts) : null;
    const activeRelay = relay;

    const ctx = createContext(def, {
      dataDir: opts.dataDir,
      site: opts.site,
      db,
      log,
      nats: nc,
      env: opts.env,
      fileConfig: opts.fileConfig,
      permissions: opts.permissions,
      now: opts.now,
      metrics: opts.metrics,
      onEmit: activeRelay ? () => activeRelay.notify() : undefined,
      plugins,
    });
    const app = createServiceApp(def, ctx, {
      bodyLimitBytes: opts.bodyLimitBytes ?? 1024 * 1024,
      internalToken: opts.internalToken,
      metrics: opts.metrics,
      ready: async () => {
        if (!db.open) return "database closed";
        if (nc?.isClosed()) return "message bus closed";
        return null;
      },
    });

    await def.onStart(ctx);
    if (nc) for (const sub of def.subscriptions(ctx)) await runSubscription(nc, def.name, sub, log);
    for (const p of plugins) {
      const handle = await p.start?.({
        ...scope,
        def: def as ServiceDefinition<unknown>,
        ctx: ctx as ServiceContext<unknown>,
        nc,
        wake: activeRelay ? () => activeRelay.notify() : undefined,
      });
      if (handle) started.push(handle);
    }
    relay?.start();

    const server = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host ?? "127.0.0.1" });
    // Only the gateway reaches a service, and it enforces request and idle timeouts itself; node's own
    // 300 s whole-request limit would cut a multi-GB upload that the gateway lets through.
    if ("requestTimeout" in server) server.requestTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once("listening", resolve);
      server.once("error", reject);
    });
    const port = (server.address() as AddressInfo).port;
    const unix = opts.socketPath ? await listenUnix(app.fetch, opts.socketPath) : null;
    const socket = unix ? opts.socketPath! : null;
    log.info({ port, socket }, "service listening");

    return {
      name: def.name,
      port,
      socket,
      ctx: ctx as ServiceContext<unknown>,
      app,
      relay,
      async stop() {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          if ("closeIdleConnections" in server) server.closeIdleConnections();
        });
        if (unix) await closeUnix(unix, socket!);
        stopPlugins();
        await relay?.stop();
        if (relay) await relay.flush().catch(() => 0);
        await nc?.drain().catch(() => undefined);
        db.close();
      },
    };
  } catch (err) {
    stopPlugins();
    await relay?.stop();
    await nc?.close().catch(() => undefined);
    db.close();
    throw err;
  }
}
