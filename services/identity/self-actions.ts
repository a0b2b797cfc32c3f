/**
 * What a signed-in user does with their own account, with its checks and audit entries. Plain functions:
 * routes-me.ts, routes-me-security.ts and routes-me-keys.ts map HTTP onto them.
 */
import type { z } from "zod";
import { ApiError, type Caller, type ServiceContext } from "../../appliance/kit/index.js";
import { createApiKey, revokeApiKey } from "./api-keys.js";
import { auditCaller } from "./audit.js";
import type { IdentityConfig } from "./config.js";
import { confirmOwnPassword } from "./lockout.js";
import { sessionAccessToken } from "./login.js";
import { confirmTotp, disableTotp } from "./mfa.js";
import type * as s from "./schemas.js";
import { liveSession, revokeSession } from "./sessions.js";
import { revokeUserSessions, setPassword, userRow } from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;

/** A fresh access token for the caller's session; 401 once it has ended or the user is no longer active. */
export function renewAccessToken(ctx: Ctx, caller: Caller) {
  const session = caller.sid ? liveSession(ctx, caller.sid) : null;
  const u = session ? userRow(ctx, session.user_id) : undefined;
  if (!session || !u || u.status !== "active") throw new ApiError(401, "session ended; log in again");
  return sessionAccessToken(ctx, u, session.id);
}

/** Ends the caller's current session. */
export function logoutAs(ctx: Ctx, caller: Caller, ip: string): void {
  if (caller.sid) revokeSession(ctx, caller.id, caller.sid);
  auditCaller(ctx, caller, ip, { action: "logout", target: caller.id });
}

/** Ends every session of the caller; returns how many. */
export function logoutAllAs(ctx: Ctx, caller: Caller, ip: string): number {
  const n = revokeUserSessions(ctx, caller.id);
  auditCaller(ctx, caller, ip, { action: "logout.all", target: caller.id, details: { sessions: n } });
  return n;
}

/** Changes the caller's password after checking the current one; ends their other sessions. */
export async function changeMyPassword(
  ctx: Ctx,
  caller: Caller,
  ip: string,
  body: z.infer<typeof s.changePasswordBody>,
): Promise<void> {
  if (!(await confirmOwnPassword(ctx, caller.id, body.currentPassword, ip))) {
    auditCaller(ctx, caller, ip, { action: "password.change", target: caller.id, outcome: "failure" });
    throw new ApiError(403, "current password is wrong");
  }
  // The summary promises "ends my other sessions": keep the one making the change.
  await setPassword(ctx, caller.id, body.newPassword, false, caller.sid);
  auditCaller(ctx, caller, ip, { action: "password.change", target: caller.id });
}

/** Confirms the caller's TOTP enrolment with a code; returns the recovery codes. */
export function confirmMyTotp(ctx: Ctx, caller: Caller, ip: string, code: string) {
  const r = confirmTotp(ctx, caller.id, code);
  auditCaller(ctx, caller, ip, { action: "mfa.enabled", target: caller.id });
  return r;
}

/** Turns the caller's TOTP off after checking their password. */
export async function disableMyTotp(ctx: Ctx, caller: Caller, ip: string, password: string): Promise<void> {
  if (!(await confirmOwnPassword(ctx, caller.id, password, ip))) {
    auditCaller(ctx, caller, ip, { action: "mfa.disabled", target: caller.id, outcome: "failure" });
    throw new ApiError(403, "password is wrong");
  }
  disableTotp(ctx, caller.id);
  auditCaller(ctx, caller, ip, { action: "mfa.disabled", target: caller.id });
}

/** Creates an API key for the caller; the secret is in the answer only. */
export function createMyApiKey(ctx: Ctx, caller: Caller, ip: string, body: z.infer<typeof s.apiKeyBody>) {
  // A key made on a temporary password would come alive with full rights once it is changed: whoever
  // learnt the temporary one (the admin who reset it, a shoulder) could plant a key that outlives it.
  if (userRow(ctx, caller.id)?.must_change_password)
    throw new ApiError(403, "change your password first: a temporary password cannot create API keys");
  const r = ctx.tx(() => {
    const created = createApiKey(ctx, caller.id, body);
    auditCaller(ctx, caller, ip, {
      action: "apikey.created",
      target: created.key.id,
      details: { permissions: body.permissions },
    });
    return created;
  });
  return { ...r.key, secret: r.secret };
}

/** Revokes one of the caller's own API keys. */
export function revokeMyApiKey(ctx: Ctx, caller: Caller, ip: string, id: string): void {
  revokeApiKey(ctx, id, caller.id);
  auditCaller(ctx, caller, ip, { action: "apikey.revoked", target: id });
}
