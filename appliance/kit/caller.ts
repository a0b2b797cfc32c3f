/**
 * Who is calling: the gateway authenticates and forwards the principal as `x-nexus-principal`; services trust
 * it because only requests carrying the gateway's internal token reach them.
 */
import type { Context } from "hono";
import { z } from "zod";
import { ApiError } from "./errors.js";

export const callerSchema = z.object({
  id: z.string(),
  username: z.string().optional(),
  roles: z.array(z.string()),
  permissions: z.array(z.string()),
  teams: z.array(z.string()).default([]),
  via: z.enum(["bootstrap-token", "session", "token", "api-key"]),
  sid: z.string().optional(),
});

export type Caller = z.infer<typeof callerSchema>;

/** The caller, or null on a public route reached anonymously. */
export function callerOf(c: Context): Caller | null {
  const raw = c.req.header("x-nexus-principal");
  if (!raw) return null;
  try {
    const parsed = callerSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The caller; 401 when there is none. */
export function requireCaller(c: Context): Caller {
  const caller = callerOf(c);
  if (!caller) throw new ApiError(401, "authentication required");
  return caller;
}

/** The client's address as the gateway saw it. */
export function clientIp(c: Context): string {
  return c.req.header("x-forwarded-for")?.split(",")[0]?.trim() || "unknown";
}
