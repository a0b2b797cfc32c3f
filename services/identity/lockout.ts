/**
 * The counters behind the lockout policy, shared by login and every route that checks a password (`/me/*`):
 * a wrong password counts against the account (`lockoutThreshold` wrong ones lock it for `lockoutBaseSec`,
 * doubling per further lock up to `lockoutMaxSec`) and against the caller's IP (throttled after
 * `ipMaxFailures` in `ipWindowSec`). Locks always expire by themselves.
 */
import { ApiError, type ServiceContext } from "../../appliance/kit/index.js";
import { audit } from "./audit.js";
import type { IdentityConfig } from "./config.js";
import { verifyPassword } from "./passwords.js";
import { type UserRow, userRow } from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;

/** Whether `ip` has used up its failures in the current window. */
export function ipThrottled(ctx: Ctx, ip: string): boolean {
  const r = ctx.db.prepare("SELECT count, window_start FROM ip_failures WHERE ip = ?").get(ip) as
    | { count: number; window_start: number }
    | undefined;
  return (
    !!r && Date.now() - r.window_start < ctx.config.ipWindowSec * 1000 && r.count >= ctx.config.ipMaxFailures
  );
}

/** Counts one failure against `ip`, starting a new window when the last one has passed. */
export function countIpFailure(ctx: Ctx, ip: string): void {
  const now = Date.now();
  const windowStart = now - ctx.config.ipWindowSec * 1000;
  ctx.db
    .prepare(
      `INSERT INTO ip_failures (ip, count, window_start) VALUES (?, 1, ?)
       ON CONFLICT(ip) DO UPDATE SET
         count = CASE WHEN window_start < ? THEN 1 ELSE count + 1 END,
         window_start = CASE WHEN window_start < ? THEN excluded.window_start ELSE window_start END`,
    )
    .run(ip, now, windowStart, windowStart);
}

/** Whether the account is locked now. */
export function isLocked(u: Pick<UserRow, "locked_until">): boolean {
  return !!u.locked_until && u.locked_until > Date.now();
}

/**
 * Counts a wrong password (or one-time code) against the account and the IP, locking the account at the
 * threshold. Pass a row read after the slow hash, so parallel guesses each add one.
 */
export function countFailure(ctx: Ctx, u: UserRow, ip: string): void {
  ctx.tx(() => {
    countIpFailure(ctx, ip);
    const failed = u.failed_logins + 1;
    if (failed >= ctx.config.lockoutThreshold) {
      const seconds = Math.min(ctx.config.lockoutBaseSec * 2 ** u.lockouts, ctx.config.lockoutMaxSec);
      ctx.db
        .prepare("UPDATE users SET failed_logins = 0, lockouts = lockouts + 1, locked_until = ? WHERE id = ?")
        .run(Date.now() + seconds * 1000, u.id);
      audit(ctx, { actor: u.username, ip, action: "account.locked", target: u.id, details: { seconds } });
    } else {
      ctx.db.prepare("UPDATE users SET failed_logins = ? WHERE id = ?").run(failed, u.id);
    }
  });
}

/** 429 while the IP is throttled, 423 while the account is locked: the user is known, so the lock may show. */
function refuseBlocked(ctx: Ctx, u: UserRow | undefined, ip: string): UserRow {
  if (ipThrottled(ctx, ip))
    throw new ApiError(429, "too many failed password checks from this address; try again later");
  if (!u) throw new ApiError(401, "session ended; log in again");
  if (isLocked(u)) throw new ApiError(423, "account locked after repeated wrong passwords; try again later");
  return u;
}

/**
 * Checks a signed-in user's own password again (`/me/password`, `/me/mfa/disable`) under the login's rules:
 * without them anyone holding a session had an unlimited password oracle. Refused while throttled or locked,
 * even for the right password; a wrong one counts against the account and the IP; a right one clears the count.
 */
export async function confirmOwnPassword(ctx: Ctx, userId: string, password: string, ip: string) {
  const before = refuseBlocked(ctx, userRow(ctx, userId), ip);
  const ok = await verifyPassword(password, before.password_hash);
  // Re-read after the slow hash, as login does: parallel guesses must each count.
  const u = refuseBlocked(ctx, userRow(ctx, userId), ip);
  if (!ok || u.password_hash !== before.password_hash) {
    countFailure(ctx, u, ip);
    return false;
  }
  ctx.db.prepare("UPDATE users SET failed_logins = 0 WHERE id = ?").run(u.id);
  return true;
}
