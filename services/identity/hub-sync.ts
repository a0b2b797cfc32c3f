/**
 * Users and roles managed on the hub, applied on the box (`syncApply`). Each record is applied only when its
 * HLC is later than the one last applied for that row (`hub_versions`): replays and late older versions
 * change nothing. Nothing here records a change for the hub (no echo). A record this box must not apply
 * (malformed data, a built-in role, a username a local account holds) is skipped with a warning and an
 * audit entry, never thrown: a throwing handler would be retried forever.
 *
 * - `roles/<name>` `{ description, permissions }`: a custom role; built-in roles are never changed. A delete
 *   removes the role unless a user still has it.
 * - `users/<hub id>` `{ username, displayName?, roles, status, passwordHash? }`: a user with `source = 'hub'`;
 *   `passwordHash` is identity's own scrypt format, so the hub's password works on every box. A delete
 *   disables the account and ends its sessions (its audit history stays).
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { ServiceContext } from "../../appliance/kit/index.js";
import type { ChangeRecord } from "../../appliance/sync/change.js";
import { audit } from "./audit.js";
import { BUILTIN_ROLE_NAMES } from "./builtin-roles.js";
import type { IdentityConfig } from "./config.js";
import { getRole } from "./roles.js";
import * as s from "./schemas.js";
import { revokeUserSessions, rolesOf, type UserRow, userRowByName } from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;

const HUB = "hub";
const PASSWORD_HASH = /^scrypt\$\d{1,10}\$\d{1,4}\$\d{1,4}\$[A-Za-z0-9_-]{1,128}\$[A-Za-z0-9_-]{1,256}$/;

export const hubRoleSchema = z.object({
  description: z.string().max(256),
  permissions: z.array(s.permission).max(200),
});

export const hubUserSchema = z.object({
  username: s.username,
  displayName: s.displayName.optional(),
  roles: z.array(s.roleName).max(20),
  status: z.enum(["active", "disabled"]),
  passwordHash: z.string().regex(PASSWORD_HASH, "passwordHash: identity's scrypt format").optional(),
});

function appliedHlc(ctx: Ctx, collection: string, key: string): string | undefined {
  return (
    ctx.db.prepare("SELECT hlc FROM hub_versions WHERE collection = ? AND key = ?").get(collection, key) as
      | { hlc: string }
      | undefined
  )?.hlc;
}

function markApplied(ctx: Ctx, collection: string, key: string, hlc: string, roles: string[] | null = null) {
  ctx.db
    .prepare(
      "INSERT INTO hub_versions (collection, key, hlc, roles) VALUES (?, ?, ?, ?) ON CONFLICT (collection, key) DO UPDATE SET hlc = excluded.hlc, roles = excluded.roles",
    )
    .run(collection, key, hlc, roles && JSON.stringify(roles));
}

/** True when `r` is newer than what was applied for its row; logs the skip otherwise. */
function isNewer(ctx: Ctx, r: ChangeRecord): boolean {
  const mine = appliedHlc(ctx, r.collection, r.key);
  if (mine !== undefined && mine >= r.hlc) {
    ctx.log.debug({ collection: r.collection, key: r.key, hlc: r.hlc, applied: mine }, "older hub record");
    return false;
  }
  return true;
}

/** Why a hub record is not applied on this box. */
interface Skip {
  action: string;
  reason: string;
  details?: Record<string, unknown>;
}

const skip = (action: string, reason: string, details: Record<string, unknown> = {}): Skip => ({
  action,
  reason,
  details,
});

/** Applies `r` with `apply` when it is newer than what was applied; logs and audits a skipped record. */
function applyNewer(ctx: Ctx, r: ChangeRecord, apply: (ctx: Ctx, r: ChangeRecord) => Skip | null): void {
  if (!isNewer(ctx, r)) return;
  const skipped = apply(ctx, r);
  if (!skipped) return;
  const { action, reason, details } = skipped;
  ctx.log.warn(
    { collection: r.collection, key: r.key, hlc: r.hlc, ...details },
    `hub record skipped: ${reason}`,
  );
  audit(ctx, {
    actor: HUB,
    action,
    target: r.key,
    outcome: "failure",
    details: { reason, hlc: r.hlc, ...details },
  });
}

function zodProblem(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join(".") || "data"}: ${i.message}`).join("; ");
}

export const applyHubRole = (ctx: Ctx, r: ChangeRecord): void => applyNewer(ctx, r, roleChange);
export const applyHubUser = (ctx: Ctx, r: ChangeRecord): void => applyNewer(ctx, r, userChange);

function roleChange(ctx: Ctx, r: ChangeRecord): Skip | null {
  const name = s.roleName.safeParse(r.key);
  if (!name.success) return skip("role.hub_skipped", "malformed role name");
  const existing = getRole(ctx, r.key);
  if (BUILTIN_ROLE_NAMES.includes(r.key) || existing?.builtin)
    return skip("role.hub_skipped", "built-in roles are not changed by the hub");
  if (r.op === "delete") {
    const users = (
      ctx.db.prepare("SELECT count(*) AS n FROM user_roles WHERE role = ?").get(r.key) as { n: number }
    ).n;
    if (users > 0) return skip("role.hub_delete_refused", "users still have this role", { users });
    markApplied(ctx, "roles", r.key, r.hlc);
    if (!existing) return null;
    ctx.db.prepare("DELETE FROM roles WHERE name = ?").run(r.key);
    audit(ctx, { actor: HUB, action: "role.deleted", target: r.key, details: { hlc: r.hlc } });
    return null;
  }
  const data = hubRoleSchema.safeParse(r.data);
  if (!data.success) return skip("role.hub_skipped", `malformed data: ${zodProblem(data.error)}`);
  const { description, permissions } = data.data;
  if (existing) {
    ctx.db
      .prepare("UPDATE roles SET description = ?, permissions = ? WHERE name = ?")
      .run(description, JSON.stringify(permissions), r.key);
  } else {
    ctx.db
      .prepare(
        "INSERT INTO roles (name, description, builtin, permissions, created_at) VALUES (?, ?, 0, ?, ?)",
      )
      .run(r.key, description, JSON.stringify(permissions), new Date().toISOString());
  }
  markApplied(ctx, "roles", r.key, r.hlc);
  audit(ctx, {
    actor: HUB,
    action: existing ? "role.changed" : "role.created",
    target: r.key,
    details: { permissions, hlc: r.hlc },
  });
  grantPendingRole(ctx, r.key);
  return null;
}

/** Hub users that the hub gave `role` before it existed on this box get it now. */
function grantPendingRole(ctx: Ctx, role: string) {
  const waiting = ctx.db
    .prepare(
      "SELECT u.id, v.roles FROM hub_versions v JOIN users u ON u.hub_id = v.key AND u.source = 'hub' WHERE v.collection = 'users' AND v.roles IS NOT NULL",
    )
    .all() as { id: string; roles: string }[];
  for (const w of waiting) {
    if (!(JSON.parse(w.roles) as string[]).includes(role)) continue;
    const { changes } = ctx.db
      .prepare("INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?, ?)")
      .run(w.id, role);
    if (changes)
      audit(ctx, { actor: HUB, action: "user.roles_changed", target: w.id, details: { added: [role] } });
  }
}

function hubUserRow(ctx: Ctx, hubId: string): UserRow | undefined {
  return ctx.db.prepare("SELECT * FROM users WHERE hub_id = ? AND source = 'hub'").get(hubId) as
    | UserRow
    | undefined;
}

function userChange(ctx: Ctx, r: ChangeRecord): Skip | null {
  const row = hubUserRow(ctx, r.key);
  if (r.op === "delete") {
    markApplied(ctx, "users", r.key, r.hlc);
    if (!row) return null;
    ctx.db
      .prepare("UPDATE users SET status = 'disabled', updated_at = ? WHERE id = ?")
      .run(new Date().toISOString(), row.id);
    const sessions = revokeUserSessions(ctx, row.id);
    audit(ctx, {
      actor: HUB,
      action: "user.disabled",
      target: row.id,
      details: { username: row.username, hubId: r.key, sessions, hlc: r.hlc },
    });
    ctx.emit("user.updated", { id: row.id, status: "disabled" });
    return null;
  }
  const parsed = hubUserSchema.safeParse(r.data);
  if (!parsed.success) return skip("user.hub_skipped", `malformed data: ${zodProblem(parsed.error)}`);
  const u = parsed.data;
  const holder = userRowByName(ctx, u.username);
  if (holder && holder.id !== row?.id) {
    const reason =
      holder.source === "local" ? "a local user has this username" : "another hub user has this username";
    return skip("user.hub_skipped", reason, { username: u.username });
  }
  const roles = [...new Set(u.roles)];
  const known = roles.filter((name) => getRole(ctx, name));
  const unknown = roles.filter((name) => !known.includes(name));
  if (unknown.length)
    ctx.log.warn({ hubId: r.key, unknown }, "hub user has roles this box does not have yet");
  const now = new Date().toISOString();
  let id: string;
  if (row) {
    id = row.id;
    const newHash = u.passwordHash !== undefined && u.passwordHash !== row.password_hash;
    ctx.db
      .prepare(
        "UPDATE users SET username = ?, display_name = ?, status = ?, password_hash = ?, failed_logins = CASE WHEN ? THEN 0 ELSE failed_logins END, locked_until = CASE WHEN ? THEN NULL ELSE locked_until END, updated_at = ? WHERE id = ?",
      )
      .run(
        u.username,
        u.displayName ?? u.username,
        u.status,
        u.passwordHash ?? row.password_hash,
        newHash ? 1 : 0,
        newHash ? 1 : 0,
        now,
        id,
      );
    // A new password or a disabled account ends the sessions, as it does for a local user.
    if (newHash || (u.status === "disabled" && row.status === "active")) revokeUserSessions(ctx, id);
  } else {
    id = randomUUID();
    ctx.db
      .prepare(
        "INSERT INTO users (id, username, display_name, password_hash, source, hub_id, status, created_at, updated_at) VALUES (?, ?, ?, ?, 'hub', ?, ?, ?, ?)",
      )
      .run(id, u.username, u.displayName ?? u.username, u.passwordHash ?? null, r.key, u.status, now, now);
  }
  const before = row ? rolesOf(ctx, id) : [];
  ctx.db.prepare("DELETE FROM user_roles WHERE user_id = ?").run(id);
  const add = ctx.db.prepare("INSERT INTO user_roles (user_id, role) VALUES (?, ?)");
  for (const name of known) add.run(id, name);
  markApplied(ctx, "users", r.key, r.hlc, roles);
  audit(ctx, {
    actor: HUB,
    action: row ? "user.updated" : "user.created",
    target: id,
    details: {
      username: u.username,
      hubId: r.key,
      status: u.status,
      roles: known,
      ...(row ? { previousRoles: before } : {}),
      ...(unknown.length ? { pendingRoles: unknown } : {}),
      ...(u.passwordHash !== undefined && u.passwordHash !== row?.password_hash ? { passwordSet: true } : {}),
      hlc: r.hlc,
    },
  });
  ctx.emit(row ? "user.updated" : "user.created", { id, username: u.username, roles: known, source: "hub" });
  return null;
}
