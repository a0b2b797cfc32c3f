export { type AccessLevel, type AccessRule, accessFor, hasPermission, rule, ruleFor } from "./access.js";
export { createServiceApp, REQUEST_ID_HEADER } from "./app.js";
export { type Caller, callerOf, callerSchema, clientIp, requireCaller } from "./caller.js";
export { envKey, envPrefix, loadConfig } from "./config.js";
export { createContext, openServiceOffline, serviceDbPath } from "./context.js";
export { bearerToken, CSRF_COOKIE, SESSION_COOKIE, TOKEN_AUDIENCE, tokenIssuer } from "./credentials.js";
export { type Db, type Migration, migrate, openDatabase } from "./db.js";
export {
  defineService,
  type HealthResult,
  type ServiceContext,
  type ServiceDefinition,
} from "./define-service.js";
export {
  type DiskReserve,
  type DiskRoom,
  diskReserveSchema,
  diskRoom,
  isDiskFullError,
  loadDiskReserve,
  reserveOf,
} from "./disk.js";
export { ApiError, type ErrorBody, errorBody, renderError } from "./errors.js";
export { type CloudEvent, cloudEventSchema, eventSubject, makeEvent } from "./events.js";
export { LogDestination } from "./log-destination.js";
export { createLogger, type Logger } from "./logger.js";
export { manifestOf, type ServiceManifest } from "./manifest.js";
export {
  connectNats,
  EVENTS_STREAM,
  ensureEventStream,
  ensureStream,
  type NatsOptions,
  type Subscription,
} from "./nats.js";
export {
  errorBodySchema,
  errorResponse,
  errorResponses,
  finishOperations,
  type PathItem,
  securityOf,
  securitySchemes,
} from "./openapi.js";
export { addToOutbox, insertOutboxRow, OutboxRelay, outboxBacklog } from "./outbox.js";
export {
  checkPermissions,
  DEFAULT_ROLES,
  type DefaultRole,
  mergePermissions,
  type PermissionDeclaration,
  type PermissionDeclarations,
} from "./permissions.js";
export { type PluginScope, pluginMigrations, type ServicePlugin } from "./plugin.js";
export { binaryContent, documentRoute, jsonRoute, type RouteSpec } from "./route.js";
export { type RunningService, type StartOptions, startService } from "./runtime.js";
