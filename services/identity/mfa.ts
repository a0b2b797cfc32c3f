/** TOTP enrolment (secret → confirm with a code → recovery codes), recovery codes, and turning MFA off. */
import { ApiError, type ServiceContext } from "../../appliance/kit/index.js";
import type { IdentityConfig } from "./config.js";
import { hashSecret, matchTotp, newRecoveryCodes, newTotpSecret, otpauthUri } from "./totp.js";
import { userRow } from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;

/** Starts enrolment: a new secret, not active until confirmed. */
export function enrollTotp(ctx: Ctx, userId: string): { secret: string; otpauthUri: string } {
  const u = userRow(ctx, userId);
  if (!u) throw new ApiError(404, "no such user");
  if (u.totp_enabled) throw new ApiError(409, "MFA is already enabled; disable it first");
  const secret = newTotpSecret();
  ctx.db.prepare("UPDATE users SET totp_secret = ?, totp_last_step = NULL WHERE id = ?").run(secret, userId);
  return { secret, otpauthUri: otpauthUri(secret, u.username) };
}

/** Confirms enrolment with a current code; returns the recovery codes (shown once). */
export function confirmTotp(ctx: Ctx, userId: string, code: string): { recoveryCodes: string[] } {
  const u = userRow(ctx, userId);
  if (!u?.totp_secret || u.totp_enabled) throw new ApiError(409, "start enrolment first");
  const step = matchTotp(u.totp_secret, code, null);
  if (step === null) throw new ApiError(400, "that code does not match; check the device's clock");
  const { codes, hashes } = newRecoveryCodes();
  ctx.tx(() => {
    ctx.db.prepare("UPDATE users SET totp_enabled = 1, totp_last_step = ? WHERE id = ?").run(step, userId);
    ctx.db.prepare("DELETE FROM recovery_codes WHERE user_id = ?").run(userId);
    const add = ctx.db.prepare("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)");
    for (const h of hashes) add.run(userId, h);
  });
  return { recoveryCodes: codes };
}

/** Uses up a recovery code; true when it was valid and unused. */
export function useRecoveryCode(ctx: Ctx, userId: string, code: string): boolean {
  if (!/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/.test(code)) return false;
  return (
    ctx.db
      .prepare(
        "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
      )
      .run(Date.now(), userId, hashSecret(code)).changes === 1
  );
}

export function disableTotp(ctx: Ctx, userId: string): void {
  ctx.tx(() => {
    ctx.db
      .prepare("UPDATE users SET totp_enabled = 0, totp_secret = NULL, totp_last_step = NULL WHERE id = ?")
      .run(userId);
    ctx.db.prepare("DELETE FROM recovery_codes WHERE user_id = ?").run(userId);
  });
}
