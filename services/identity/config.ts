/** Identity settings (env `NEXUS_IDENTITY_<KEY>`). */
import { z } from "zod";

export const identityConfigSchema = z.object({
  /** Lifetime of bearer access tokens. Revoking a session cuts its tokens off within this time. */
  accessTokenTtlSec: z.number().int().min(30).max(3600).default(300),
  sessionIdleSec: z
    .number()
    .int()
    .min(60)
    .default(30 * 60),
  sessionAbsoluteSec: z
    .number()
    .int()
    .min(300)
    .default(12 * 3600),
  /** Failed logins on one account before it is locked. */
  lockoutThreshold: z.number().int().min(1).default(5),
  /** First lock; each further lock doubles it, up to the maximum. Locks always expire. */
  lockoutBaseSec: z
    .number()
    .int()
    .min(1)
    .default(15 * 60),
  lockoutMaxSec: z
    .number()
    .int()
    .min(1)
    .default(60 * 60),
  /** Failed logins from one IP within the window before it is throttled (429). */
  ipMaxFailures: z.number().int().min(1).default(30),
  ipWindowSec: z
    .number()
    .int()
    .min(1)
    .default(15 * 60),
  passwordMinLength: z.number().int().min(8).max(128).default(10),
  /** Mark cookies Secure (set when the box is served over TLS). */
  secureCookies: z.boolean().default(false),
  setupTokenTtlSec: z
    .number()
    .int()
    .min(60)
    .default(24 * 3600),
});

export type IdentityConfig = z.infer<typeof identityConfigSchema>;
