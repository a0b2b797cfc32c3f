/**
 * First boot without default passwords: while no admin exists, the supervisor asks for a one-time setup
 * token (printed by `nexus up` as a link); redeeming it creates the first admin. Scripts use
 * `nexus admin create` on the box instead.
 */
import { randomBytes } from "node:crypto";
import { ApiError, type ServiceContext } from "../../appliance/kit/index.js";
import { audit } from "./audit.js";
import type { IdentityConfig } from "./config.js";
import { hashSecret } from "./totp.js";
import { activeAdmins, createUser, type User } from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;

export function setupNeeded(ctx: Ctx): boolean {
  return activeAdmins(ctx) === 0;
}

/** A fresh one-time token (earlier ones stop working); null when an admin exists. */
export function issueSetupToken(ctx: Ctx): { token: string; expiresAt: string } | null {
  if (!setupNeeded(ctx)) return null;
  const token = randomBytes(24).toString("base64url");
  const expires = Date.now() + ctx.config.setupTokenTtlSec * 1000;
  ctx.tx(() => {
    ctx.db.prepare("DELETE FROM setup_tokens").run();
    ctx.db
      .prepare("INSERT INTO setup_tokens (hash, expires_at) VALUES (?, ?)")
      .run(hashSecret(token), expires);
  });
  return { token, expiresAt: new Date(expires).toISOString() };
}

/** Redeems a setup token for the first admin account. */
export async function completeSetup(
  ctx: Ctx,
  input: { token: string; username: string; password: string; displayName?: string; ip: string },
): Promise<User> {
  if (!setupNeeded(ctx)) throw new ApiError(409, "setup is already complete");
  // Claim the token atomically: of two concurrent setups only one gets past this line.
  const claimed = ctx.db
    .prepare("UPDATE setup_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?")
    .run(Date.now(), hashSecret(input.token), Date.now()).changes;
  if (!claimed) {
    audit(ctx, {
      actor: input.username,
      ip: input.ip,
      action: "setup",
      outcome: "failure",
      details: { reason: "token" },
    });
    throw new ApiError(
      401,
      "invalid or expired setup token; restart the appliance or run `nexus admin create`",
    );
  }
  let user: User;
  try {
    user = await createUser(ctx, {
      username: input.username,
      password: input.password,
      displayName: input.displayName,
      roles: ["admin"],
    });
  } catch (err) {
    // A rejected password must not burn the token: give it back for the next try.
    ctx.db.prepare("UPDATE setup_tokens SET used_at = NULL WHERE hash = ?").run(hashSecret(input.token));
    throw err;
  }
  audit(ctx, { actor: user.username, ip: input.ip, action: "setup", target: user.id });
  return user;
}
