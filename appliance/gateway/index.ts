export {
  type AuthHook,
  type AuthRequest,
  AuthUnavailableError,
  bootstrapToken,
  bootstrapTokenAuth,
  type Principal,
} from "./auth.js";
export { createGateway, type GatewayDeps } from "./gateway.js";
export { GatewayMetrics, type ServiceGauge } from "./metrics.js";
export { parseApiPath } from "./path.js";
export { RateLimiter } from "./rate-limit.js";
