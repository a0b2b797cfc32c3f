/**
 * Password login with per-IP throttling, per-account lockout and TOTP.
 *
 * Lockout policy (counters in lockout.ts): `lockoutThreshold` wrong passwords lock the account for
 * `lockoutBaseSec`, doubling for each further lock up to `lockoutMaxSec`. Locks always expire by themselves, so
 * an attacker can delay an admin but never lock them out for good; a correct login resets the count, and an
 * admin (or `nexus admin unlock` on the box) can lift a lock at once. Wrong attempts also count against the
 * caller's IP, which is throttled (429) after `ipMaxFailures` in `ipWindowSec`, so guessing across many
 * accounts from one place stops too. A locked account, an unknown user and a wrong password get the same 401
 * and cost the same scrypt work (unknown users are checked against a dummy hash), so logins reveal no names.
 */
import { ApiError, type ServiceContext } from "../../appliance/kit/index.js";
import { audit } from "./audit.js";
import type { IdentityConfig } from "./config.js";
import { countFailure, countIpFailure, ipThrottled, isLocked } from "./lockout.js";
import { useRecoveryCode } from "./mfa.js";
import { verifyPassword } from "./passwords.js";
import { principalFor } from "./principal.js";
import { createSession } from "./sessions.js";
import { issueAccessToken } from "./signing.js";
import { matchTotp } from "./totp.js";
import { toUser, type UserRow, userRow, userRowByName } from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;

export interface LoginInput {
  username: string;
  password: string;
  totp?: string;
  ip: string;
  userAgent: string;
}

const INVALID = "invalid username or password";

function failPassword(ctx: Ctx, u: UserRow, ip: string) {
  ctx.tx(() => {
    countFailure(ctx, u, ip);
    loginFailed(ctx, u.username, ip, "password", u.id);
  });
}

/** Audits a refused login; `reason` is for admins (the client gets a generic message). */
function loginFailed(ctx: Ctx, actor: string, ip: string, reason: string, target?: string) {
  audit(ctx, { actor, ip, action: "login", target: target ?? null, outcome: "failure", details: { reason } });
}

/** Checks credentials and opens a session; throws ApiError with the reason a client may see. */
/** An access token for a session of `u`: its current roles, permissions and teams, bound to the session. */
export function sessionAccessToken(ctx: Ctx, u: UserRow, sid: string) {
  const p = principalFor(ctx, u, "session", { sid });
  return issueAccessToken(ctx, {
    userId: u.id,
    username: u.username,
    sid,
    roles: p.roles,
    permissions: p.permissions,
    teams: p.teams,
  });
}

export async function login(ctx: Ctx, input: LoginInput) {
  const refuseThrottled = () => {
    if (!ipThrottled(ctx, input.ip)) return;
    loginFailed(ctx, input.username, input.ip, "ip-throttled");
    throw new ApiError(429, "too many failed logins from this address; try again later");
  };
  refuseThrottled();
  const found = userRowByName(ctx, input.username);
  const passwordOk = await verifyPassword(input.password, found?.password_hash ?? null);
  // Everything below runs without yielding, so check the IP and re-read the account after the slow hash:
  // parallel attempts all read them before it, so a burst of guesses got past the IP throttle, never
  // reached the lockout threshold (each wrote the same count + 1) and could use one TOTP code twice.
  refuseThrottled();
  const u = found && userRow(ctx, found.id);
  if (!u) {
    ctx.tx(() => {
      countIpFailure(ctx, input.ip);
      loginFailed(ctx, input.username, input.ip, "unknown-user");
    });
    throw new ApiError(401, INVALID);
  }
  if (isLocked(u)) {
    // The very answer an unknown user gets, counted against the IP like one: a distinct status (it was 423)
    // told anyone which usernames exist. Admins see the lock in the audit log and on the user.
    ctx.tx(() => {
      countIpFailure(ctx, input.ip);
      loginFailed(ctx, u.username, input.ip, "locked", u.id);
    });
    throw new ApiError(401, INVALID);
  }
  if (!passwordOk || u.password_hash !== found?.password_hash) {
    failPassword(ctx, u, input.ip);
    throw new ApiError(401, INVALID);
  }
  if (u.status !== "active") {
    loginFailed(ctx, u.username, input.ip, "disabled", u.id);
    throw new ApiError(403, "account disabled");
  }
  if (u.totp_enabled) {
    if (!input.totp) throw new ApiError(401, "a one-time code is required", { mfaRequired: true });
    const step = matchTotp(u.totp_secret!, input.totp, u.totp_last_step);
    if (step !== null) ctx.db.prepare("UPDATE users SET totp_last_step = ? WHERE id = ?").run(step, u.id);
    else if (!useRecoveryCode(ctx, u.id, input.totp)) {
      failPassword(ctx, u, input.ip);
      throw new ApiError(401, "invalid one-time code", { mfaRequired: true });
    }
  }
  return ctx.tx(() => {
    ctx.db
      .prepare("UPDATE users SET failed_logins = 0, lockouts = 0, locked_until = NULL WHERE id = ?")
      .run(u.id);
    const session = createSession(ctx, u.id, { ip: input.ip, userAgent: input.userAgent });
    const access = sessionAccessToken(ctx, u, session.id);
    audit(ctx, {
      actor: u.username,
      ip: input.ip,
      action: "login",
      target: u.id,
      details: { mfa: u.totp_enabled === 1 },
    });
    return { session, access, user: toUser(ctx, u) };
  });
}
