/**
 * Sessions: a random secret in an httpOnly cookie; only its SHA-256 is stored. Each session has its own CSRF
 * token, an idle expiry and an absolute one. A fresh session id is made at every login (no fixation).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { ApiError, type ServiceContext } from "../../appliance/kit/index.js";
import type { IdentityConfig } from "./config.js";
import { hashSecret } from "./totp.js";

type Ctx = ServiceContext<IdentityConfig>;

import { CSRF_COOKIE, SESSION_COOKIE } from "../../appliance/kit/credentials.js";

export { CSRF_COOKIE, SESSION_COOKIE };

export interface SessionRow {
  id: string;
  secret_hash: string;
  user_id: string;
  csrf: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  ip: string;
  user_agent: string;
  revoked_at: number | null;
}

export interface SessionInfo {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  ip: string;
  userAgent: string;
  current?: boolean;
}

export function createSession(ctx: Ctx, userId: string, meta: { ip: string; userAgent: string }) {
  const secret = randomBytes(32).toString("base64url");
  const csrf = randomBytes(24).toString("base64url");
  const id = randomUUID();
  const now = Date.now();
  ctx.db
    .prepare(
      "INSERT INTO sessions (id, secret_hash, user_id, csrf, created_at, last_seen_at, expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .run(
      id,
      hashSecret(secret),
      userId,
      csrf,
      now,
      now,
      now + ctx.config.sessionAbsoluteSec * 1000,
      meta.ip,
      meta.userAgent.slice(0, 256),
    );
  return { id, secret, csrf, expiresAt: now + ctx.config.sessionAbsoluteSec * 1000 };
}

/** The live session for a cookie secret (touching its idle timer), or null when unknown, revoked or expired. */
export function sessionBySecret(ctx: Ctx, secret: string): SessionRow | null {
  const s = ctx.db.prepare("SELECT * FROM sessions WHERE secret_hash = ?").get(hashSecret(secret)) as
    | SessionRow
    | undefined;
  return s && touch(ctx, s) ? s : null;
}

/** The live session by id (access tokens carry it), or null. */
export function liveSession(ctx: Ctx, id: string): SessionRow | null {
  const s = ctx.db.prepare("SELECT * FROM sessions WHERE id = ?").get(id) as SessionRow | undefined;
  return s && touch(ctx, s) ? s : null;
}

function touch(ctx: Ctx, s: SessionRow): boolean {
  const now = Date.now();
  if (s.revoked_at !== null || now > s.expires_at || now - s.last_seen_at > ctx.config.sessionIdleSec * 1000)
    return false;
  if (now - s.last_seen_at > 10_000)
    ctx.db.prepare("UPDATE sessions SET last_seen_at = ? WHERE id = ?").run(now, s.id);
  return true;
}

export function listSessions(ctx: Ctx, userId: string, currentId?: string): SessionInfo[] {
  const now = Date.now();
  const idleMs = ctx.config.sessionIdleSec * 1000;
  const rows = ctx.db
    .prepare(
      "SELECT * FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND last_seen_at > ? ORDER BY created_at DESC",
    )
    .all(userId, now, now - idleMs) as SessionRow[];
  return rows.map((s) => ({
    id: s.id,
    createdAt: new Date(s.created_at).toISOString(),
    lastSeenAt: new Date(s.last_seen_at).toISOString(),
    expiresAt: new Date(Math.min(s.expires_at, s.last_seen_at + idleMs)).toISOString(),
    ip: s.ip,
    userAgent: s.user_agent,
    ...(currentId ? { current: s.id === currentId } : {}),
  }));
}

/** Revokes one session of `userId`; 404 when it is not theirs (no probing other users' sessions). */
export function revokeSession(ctx: Ctx, userId: string, sessionId: string): void {
  const { changes } = ctx.db
    .prepare("UPDATE sessions SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL")
    .run(Date.now(), sessionId, userId);
  if (!changes) throw new ApiError(404, "no such session");
}

/** `Set-Cookie` values for a new session, and for clearing it. */
export function sessionCookies(secret: string, csrf: string, maxAgeSec: number, secure: boolean): string[] {
  const flags = `Path=/; SameSite=Strict; Max-Age=${maxAgeSec}${secure ? "; Secure" : ""}`;
  return [`${SESSION_COOKIE}=${secret}; HttpOnly; ${flags}`, `${CSRF_COOKIE}=${csrf}; ${flags}`];
}

export function clearedCookies(secure: boolean): string[] {
  return sessionCookies("", "", 0, secure);
}
