/** Users: local accounts (and, once the hub syncs them, hub-managed ones) with roles and teams. */
import { randomUUID } from "node:crypto";
import { ApiError, type ServiceContext } from "../../appliance/kit/index.js";
import type { IdentityConfig } from "./config.js";
import { hashPassword, passwordProblem } from "./passwords.js";
import { getRole, permissionsOfRoles } from "./roles.js";

type Ctx = ServiceContext<IdentityConfig>;

export interface UserRow {
  id: string;
  username: string;
  display_name: string;
  password_hash: string | null;
  source: "local" | "hub";
  status: "active" | "disabled";
  must_change_password: number;
  failed_logins: number;
  lockouts: number;
  locked_until: number | null;
  totp_secret: string | null;
  totp_enabled: number;
  totp_last_step: number | null;
  created_at: string;
  updated_at: string;
}

/** What the API shows of a user: never hashes or secrets. */
export interface User {
  id: string;
  username: string;
  displayName: string;
  source: "local" | "hub";
  status: "active" | "disabled";
  roles: string[];
  teams: string[];
  mfaEnabled: boolean;
  mustChangePassword: boolean;
  lockedUntil: string | null;
  createdAt: string;
  updatedAt: string;
}

export function userRow(ctx: Ctx, id: string): UserRow | undefined {
  return ctx.db.prepare("SELECT * FROM users WHERE id = ?").get(id) as UserRow | undefined;
}

export function userRowByName(ctx: Ctx, username: string): UserRow | undefined {
  return ctx.db.prepare("SELECT * FROM users WHERE username = ?").get(username) as UserRow | undefined;
}

export function rolesOf(ctx: Ctx, userId: string): string[] {
  return (
    ctx.db.prepare("SELECT role FROM user_roles WHERE user_id = ? ORDER BY role").all(userId) as {
      role: string;
    }[]
  ).map((r) => r.role);
}

export function permissionsOf(ctx: Ctx, userId: string): string[] {
  return permissionsOfRoles(ctx, rolesOf(ctx, userId));
}

export function toUser(ctx: Ctx, r: UserRow): User {
  const teams = ctx.db
    .prepare(
      "SELECT t.name FROM teams t JOIN team_members m ON m.team_id = t.id WHERE m.user_id = ? ORDER BY t.name",
    )
    .all(r.id) as { name: string }[];
  return {
    id: r.id,
    username: r.username,
    displayName: r.display_name,
    source: r.source,
    status: r.status,
    roles: rolesOf(ctx, r.id),
    teams: teams.map((t) => t.name),
    mfaEnabled: r.totp_enabled === 1,
    mustChangePassword: r.must_change_password === 1,
    lockedUntil:
      r.locked_until && r.locked_until > Date.now() ? new Date(r.locked_until).toISOString() : null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function getUser(ctx: Ctx, id: string): User {
  const r = userRow(ctx, id);
  if (!r) throw new ApiError(404, "no such user");
  return toUser(ctx, r);
}

export function listUsers(ctx: Ctx, q: { search?: string; limit: number; offset: number }): User[] {
  const rows = q.search
    ? (ctx.db
        .prepare(
          "SELECT * FROM users WHERE username LIKE ? ESCAPE '\\' OR display_name LIKE ? ESCAPE '\\' ORDER BY username LIMIT ? OFFSET ?",
        )
        .all(
          ...Array(2).fill(`%${q.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`),
          q.limit,
          q.offset,
        ) as UserRow[])
    : (ctx.db
        .prepare("SELECT * FROM users ORDER BY username LIMIT ? OFFSET ?")
        .all(q.limit, q.offset) as UserRow[]);
  return rows.map((r) => toUser(ctx, r));
}

function assertRolesExist(ctx: Ctx, roles: string[]) {
  const unknown = roles.filter((r) => !getRole(ctx, r));
  if (unknown.length) throw new ApiError(400, "unknown roles", { unknown });
}

/** Creates a local user. The password is checked against the policy and stored as a scrypt hash. */
export async function createUser(
  ctx: Ctx,
  u: {
    username: string;
    password: string;
    displayName?: string;
    roles: string[];
    mustChangePassword?: boolean;
  },
): Promise<User> {
  const problem = passwordProblem(u.password, u.username, ctx.config.passwordMinLength);
  if (problem) throw new ApiError(400, problem);
  assertRolesExist(ctx, u.roles);
  const hash = await hashPassword(u.password);
  const id = randomUUID();
  const now = new Date().toISOString();
  ctx.tx(() => {
    if (userRowByName(ctx, u.username)) throw new ApiError(409, "that username is taken");
    ctx.db
      .prepare(
        "INSERT INTO users (id, username, display_name, password_hash, must_change_password, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      )
      .run(id, u.username, u.displayName ?? u.username, hash, u.mustChangePassword ? 1 : 0, now, now);
    setRoles(ctx, id, u.roles);
    ctx.emit("user.created", { id, username: u.username, roles: u.roles });
  });
  return getUser(ctx, id);
}

export function setRoles(ctx: Ctx, userId: string, roles: string[]): void {
  assertRolesExist(ctx, roles);
  ctx.db.prepare("DELETE FROM user_roles WHERE user_id = ?").run(userId);
  const add = ctx.db.prepare("INSERT INTO user_roles (user_id, role) VALUES (?, ?)");
  for (const r of new Set(roles)) add.run(userId, r);
}

/** Count of active admins; the last one cannot be demoted, disabled or deleted. */
export function activeAdmins(ctx: Ctx): number {
  return (
    ctx.db
      .prepare(
        "SELECT count(*) AS n FROM users u JOIN user_roles r ON r.user_id = u.id WHERE r.role = 'admin' AND u.status = 'active'",
      )
      .get() as { n: number }
  ).n;
}

export function updateUser(
  ctx: Ctx,
  id: string,
  patch: { displayName?: string; status?: "active" | "disabled"; roles?: string[] },
): User {
  ctx.tx(() => {
    const r = userRow(ctx, id);
    if (!r) throw new ApiError(404, "no such user");
    const wasAdmin = rolesOf(ctx, id).includes("admin") && r.status === "active";
    if (patch.roles) setRoles(ctx, id, patch.roles);
    ctx.db
      .prepare("UPDATE users SET display_name = ?, status = ?, updated_at = ? WHERE id = ?")
      .run(patch.displayName ?? r.display_name, patch.status ?? r.status, new Date().toISOString(), id);
    if (wasAdmin && activeAdmins(ctx) === 0)
      throw new ApiError(409, "the last active admin cannot lose admin rights");
    if (patch.status === "disabled") revokeUserSessions(ctx, id);
    ctx.emit("user.updated", { id, ...patch });
  });
  return getUser(ctx, id);
}

export function deleteUser(ctx: Ctx, id: string): void {
  ctx.tx(() => {
    const r = userRow(ctx, id);
    if (!r) throw new ApiError(404, "no such user");
    ctx.db.prepare("DELETE FROM users WHERE id = ?").run(id);
    if (activeAdmins(ctx) === 0) throw new ApiError(409, "the last active admin cannot be deleted");
    ctx.emit("user.deleted", { id, username: r.username });
  });
}

/** Sets a new password (policy-checked); all sessions of the user end, but `keepSession` when given. */
export async function setPassword(
  ctx: Ctx,
  id: string,
  password: string,
  mustChange: boolean,
  keepSession?: string,
): Promise<void> {
  const r = userRow(ctx, id);
  if (!r) throw new ApiError(404, "no such user");
  const problem = passwordProblem(password, r.username, ctx.config.passwordMinLength);
  if (problem) throw new ApiError(400, problem);
  const hash = await hashPassword(password);
  ctx.tx(() => {
    ctx.db
      .prepare(
        "UPDATE users SET password_hash = ?, must_change_password = ?, failed_logins = 0, locked_until = NULL, updated_at = ? WHERE id = ?",
      )
      .run(hash, mustChange ? 1 : 0, new Date().toISOString(), id);
    revokeUserSessions(ctx, id, keepSession);
  });
}

export function unlockUser(ctx: Ctx, id: string): void {
  const { changes } = ctx.db
    .prepare("UPDATE users SET failed_logins = 0, lockouts = 0, locked_until = NULL WHERE id = ?")
    .run(id);
  if (!changes) throw new ApiError(404, "no such user");
}

export function revokeUserSessions(ctx: Ctx, userId: string, except?: string): number {
  return ctx.db
    .prepare("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id IS NOT ?")
    .run(Date.now(), userId, except ?? null).changes;
}
