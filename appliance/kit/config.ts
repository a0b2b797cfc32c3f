/** Typed config: a zod schema, file values, then `NEXUS_` env overrides, parsed once at start. */
import type { z } from "zod";

/** `bodyLimit` → `BODY_LIMIT`. */
export function envKey(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

/** Service names may contain `-`; env names may not. */
export function envPrefix(service: string): string {
  return `NEXUS_${service.replace(/-/g, "_").toUpperCase()}_`;
}

/**
 * Parses `schema` from `fileValues` overlaid with `NEXUS_<PREFIX><KEY>` env values (top-level keys only).
 * Env values are strings; numbers and booleans are coerced when the file value or default is of that type.
 * Throws a readable error listing every bad key.
 */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  opts: { prefix: string; env?: NodeJS.ProcessEnv; fileValues?: Record<string, unknown> },
): z.infer<S> {
  const env = opts.env ?? process.env;
  const merged: Record<string, unknown> = { ...(opts.fileValues ?? {}) };
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape ?? {};
  for (const key of Object.keys(shape)) {
    const raw = env[`${opts.prefix}${envKey(key)}`];
    if (raw !== undefined) merged[key] = coerce(raw);
  }
  const result = schema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`invalid configuration (${opts.prefix}*):\n${lines.join("\n")}`);
  }
  return result.data;
}

function coerce(raw: string): unknown {
  if (raw === "true") return true;
  if (raw === "false") return false;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}
