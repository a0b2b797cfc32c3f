/** Structured logging: one pino root per process, a child per service; secrets are redacted by path. */
import { type Logger, pino } from "pino";
import { LogDestination } from "./log-destination.js";

export type { Logger } from "pino";

/** Paths that never reach a log line, whatever the caller passes. */
export const REDACT_PATHS = [
  "password",
  "*.password",
  "token",
  "*.token",
  "secret",
  "*.secret",
  "headers.authorization",
  "headers.cookie",
  "req.headers.authorization",
  "req.headers.cookie",
];

/**
 * Creates the process's root logger, writing JSON lines to `destination` (default: stdout, which for a service
 * host is its log file). Lines the disk cannot take are dropped and counted there (see log-destination.ts).
 */
export function createLogger(
  opts: { level?: string; name?: string; destination?: LogDestination } = {},
): Logger {
  return pino(
    {
      level: opts.level ?? "info",
      name: opts.name,
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination ?? new LogDestination(1),
  );
}
