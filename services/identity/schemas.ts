/** Input schemas shared by the identity routes. Strict objects: unknown fields are refused, not ignored. */
import { z } from "@hono/zod-openapi";
import { PERMISSION } from "./roles.js";

export const username = z
  .string()
  .min(2)
  .max(64)
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9._@-]*$/, "username: letters, digits, '.', '_', '@', '-'");
export const password = z.string().min(1).max(256);
export const displayName = z.string().trim().min(1).max(128);
export const roleName = z.string().regex(/^[a-z][a-z0-9-]{1,39}$/, "role: lower-case letters, digits, '-'");
export const permission = z
  .string()
  .regex(PERMISSION, "permission: service:thing[:verb], '*' for one segment");
export const id = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9-]+$/),
});

export const loginBody = z
  .object({ username: z.string().min(1).max(64), password, totp: z.string().max(32).optional() })
  .strict();
export const setupBody = z
  .object({ token: z.string().min(1).max(128), username, password, displayName: displayName.optional() })
  .strict();
export const createUserBody = z
  .object({
    username,
    password,
    displayName: displayName.optional(),
    roles: z.array(roleName).max(20).default([]),
    mustChangePassword: z.boolean().optional(),
  })
  .strict();
export const patchUserBody = z
  .object({
    displayName: displayName.optional(),
    status: z.enum(["active", "disabled"]).optional(),
    roles: z.array(roleName).max(20).optional(),
  })
  .strict();
export const resetPasswordBody = z.object({ password: password.optional() }).strict();
export const changePasswordBody = z.object({ currentPassword: password, newPassword: password }).strict();
export const codeBody = z.object({ code: z.string().regex(/^\d{6}$/, "a 6-digit code") }).strict();
export const passwordOnlyBody = z.object({ password }).strict();
export const roleBody = z
  .object({
    name: roleName,
    description: z.string().max(256).default(""),
    permissions: z.array(permission).min(1).max(100),
  })
  .strict();
export const patchRoleBody = z
  .object({
    description: z.string().max(256).optional(),
    permissions: z.array(permission).min(1).max(100).optional(),
  })
  .strict();
export const teamBody = z.object({ name: z.string().trim().min(1).max(64) }).strict();
export const memberBody = z.object({ userId: z.string().min(1).max(64) }).strict();
export const apiKeyBody = z
  .object({
    name: z.string().trim().min(1).max(64),
    permissions: z.array(permission).min(1).max(50),
    expiresInDays: z.number().int().min(1).max(3650).optional(),
  })
  .strict();
export const listQuery = z.object({
  search: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  // Described by hand: coercion accepts null (Number(null) is 0), which the generator would call nullable.
  offset: z.coerce
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .default(0)
    .openapi({ type: "integer", minimum: 0, maximum: 1_000_000, default: 0 }),
});
export const auditQuery = z.object({
  actor: z.string().max(64).optional(),
  action: z.string().max(64).optional(),
  outcome: z.enum(["success", "failure"]).optional(),
  target: z.string().max(64).optional(),
  since: z.string().datetime().optional(),
  until: z.string().datetime().optional(),
  before: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export const introspectBody = z
  .object({ kind: z.enum(["session", "api-key"]), secret: z.string().min(1).max(512) })
  .strict();

// Answers (the OpenAPI document's response schemas; jsonRoute types each handler's c.json against them).

const stamp = z.string().describe("ISO 8601 time");
export const userOut = z
  .object({
    id: z.string(),
    username: z.string(),
    displayName: z.string(),
    source: z.enum(["local", "hub"]),
    status: z.enum(["active", "disabled"]),
    roles: z.array(z.string()),
    teams: z.array(z.string()),
    mfaEnabled: z.boolean(),
    mustChangePassword: z.boolean(),
    lockedUntil: stamp.nullable(),
    createdAt: stamp,
    updatedAt: stamp,
  })
  .openapi("User");
export const usersOut = z.object({ users: z.array(userOut) });
export const meOut = userOut.extend({
  permissions: z.array(z.string()),
  via: z.enum(["bootstrap-token", "session", "token", "api-key"]),
});
export const accessTokenOut = z.object({
  token: z.string(),
  expiresIn: z.number().int().describe("seconds"),
});
export const loginOut = accessTokenOut.extend({ csrfToken: z.string(), user: userOut });
export const setupStateOut = z.object({ needed: z.boolean() });
export const jwksOut = z.object({
  keys: z.array(
    z.object({
      kid: z.string(),
      kty: z.string().optional(),
      crv: z.string().optional(),
      x: z.string().optional(),
      y: z.string().optional(),
      alg: z.literal("ES256"),
      use: z.literal("sig"),
    }),
  ),
});
const sessionInfo = z
  .object({
    id: z.string(),
    createdAt: stamp,
    lastSeenAt: stamp,
    expiresAt: stamp,
    ip: z.string(),
    userAgent: z.string(),
    current: z.boolean().optional(),
  })
  .openapi("Session");
export const sessionsOut = z.object({ sessions: z.array(sessionInfo) });
const apiKey = z
  .object({
    id: z.string(),
    name: z.string(),
    userId: z.string(),
    permissions: z.array(z.string()),
    createdAt: stamp,
    expiresAt: stamp.nullable(),
    revokedAt: stamp.nullable(),
    lastUsedAt: stamp.nullable(),
  })
  .openapi("ApiKey");
export const apiKeysOut = z.object({ keys: z.array(apiKey) });
export const newApiKeyOut = apiKey.extend({ secret: z.string().describe("nxk_…; shown only here") });
export const totpEnrollOut = z.object({ secret: z.string(), otpauthUri: z.string() });
export const recoveryCodesOut = z.object({ recoveryCodes: z.array(z.string()) });
export const roleOut = z
  .object({
    name: z.string(),
    description: z.string(),
    builtin: z.boolean(),
    permissions: z.array(z.string()),
  })
  .openapi("Role");
export const rolesOut = z.object({ roles: z.array(roleOut) });
export const teamOut = z
  .object({
    id: z.string(),
    name: z.string(),
    members: z.array(z.object({ id: z.string(), username: z.string() })),
  })
  .openapi("Team");
export const teamsOut = z.object({ teams: z.array(teamOut) });
export const auditOut = z.object({
  entries: z.array(
    z
      .object({
        seq: z.number().int(),
        at: stamp,
        actor: z.string().nullable(),
        ip: z.string().nullable(),
        action: z.string(),
        target: z.string().nullable(),
        outcome: z.enum(["success", "failure"]),
        details: z.record(z.string(), z.unknown()),
      })
      .openapi("AuditEntry"),
  ),
});
export const signingKeysOut = z.object({
  keys: z.array(z.object({ kid: z.string(), createdAt: stamp, retiredAt: stamp.nullable() })),
});
export const kidOut = z.object({ kid: z.string() });
export const resetOut = z.object({
  reset: z.boolean(),
  mustChangePassword: z.boolean(),
  temporaryPassword: z.string().optional(),
});
/** `{ <flag>: true }` answers: `{ deleted: true }`, `{ revoked: true }`, … */
export const flag = <K extends string>(key: K) =>
  z.object({ [key]: z.boolean() } as { [P in K]: z.ZodBoolean });
export const countOut = z.object({ revoked: z.number().int() });
