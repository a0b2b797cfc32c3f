/** What the gateway is given: its config, logger, auth hook, metrics and views of the supervisor. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { GatewayConfig } from "../config/schema.js";
import type { AccessRule, Logger } from "../kit/index.js";
import type { ApplianceApiHandle } from "./appliance-access.js";
import type { AuthHook } from "./auth.js";
import type { ConsoleFiles } from "./console-files.js";
import type { LocalApp } from "./in-process.js";
import type { BoxGauges, GatewayMetrics, ServiceGauge } from "./metrics.js";
import type { OpenApiPart } from "./openapi.js";

export interface GatewayDeps {
  config: GatewayConfig;
  log: Logger;
  version: string;
  auth: AuthHook;
  metrics: GatewayMetrics;
  /** Running services and their loopback ports. */
  routes: () => ReadonlyMap<string, number>;
  /** Every configured service (running or not): unknown names get 404, known-but-down 503. */
  services: () => readonly string[];
  gauges: () => ServiceGauge[];
  /** The data disk and the supervisor's own log, for /metrics. */
  box?: () => BoxGauges;
  /** The rule a service declares for `method path`: access level and body limit (see kit/access.ts). */
  route: (service: string, method: string, path: string) => AccessRule;
  /** Proves to services that a request came through the gateway. */
  internalToken: string;
  /** The console page (served at `/`). */
  consoleHtml?: () => string;
  /** The built web console (`/`, `/setup`, `/assets/*`), when it was built. */
  consoleFiles?: ConsoleFiles | null;
  /** The built data-entry web app (`/collect/…`), when it was built. */
  collectFiles?: ConsoleFiles | null;
  /** The gateway's own API at `/api/appliance/…` (appliance-api.ts). */
  applianceApi?: ApplianceApiHandle;
  /** The unix socket a service also listens on (process isolation): the proxy prefers it to the port. */
  socket?: (service: string) => string | undefined;
  /** Shared isolation: the app of a service running in this process, called without a second HTTP hop. */
  local?: (service: string) => LocalApp | undefined;
  /**
   * Shared isolation: where every request this gateway does not serve in-process goes (the supervisor's
   * gateway: the appliance API, console, /metrics, services not running here).
   */
  forward?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Origins whose browser pages may call the API (config `cors.allowedOrigins`); none: CORS off. */
  corsOrigins?: readonly string[];
}

/** What the gateway's request handlers share, made once per gateway. */
export interface GatewayContext {
  deps: GatewayDeps;
  config: GatewayConfig;
  log: Logger;
  metrics: GatewayMetrics;
  /** The gateway's own paths for /api/openapi.json, built on the first ask (gateway-openapi.ts). */
  ownOpenApi: () => Promise<OpenApiPart>;
}

/** The request deadline of requestDeadline() in gateway.ts. */
export interface Deadline {
  idleOnly(idleMs: number): void;
}
