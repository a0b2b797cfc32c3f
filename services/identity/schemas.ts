/** Input schemas shared by the identity routes. Strict objects: unknown fields are refused, not ignored. */
import { z } from "zod";
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
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
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
