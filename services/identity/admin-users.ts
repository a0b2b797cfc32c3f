/**
 * What an admin does to other users' accounts, with its checks and audit entries. Plain functions: the routes in
 * routes-users.ts map HTTP onto them. Acting on a user needs every right they hold: no action against one's betters.
 */
import type { z } from "zod";
import { ApiError, type ServiceContext } from "../../appliance/kit/index.js";
import { audit } from "./audit.js";
import type { IdentityConfig } from "./config.js";
import { temporaryPassword } from "./passwords.js";
import { assertCanGrant, permissionsOfRoles } from "./roles.js";
import type { Acting } from "./route-caller.js";
import type * as s from "./schemas.js";
import {
  createUser,
  deleteUser,
  getUser,
  revokeUserSessions,
  setPassword,
  unlockUser,
  updateUser,
} from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;

/** Throws 403 unless the caller holds every permission of the user's roles. */
export function assertOutranks(ctx: Ctx, caller: { permissions: string[] }, userId: string): void {
  assertCanGrant(caller.permissions, permissionsOfRoles(ctx, getUser(ctx, userId).roles));
}

/** Creates a user with roles the caller may grant. */
export async function createUserAs(
  ctx: Ctx,
  { caller, actor, ip }: Acting,
  body: z.infer<typeof s.createUserBody>,
) {
  assertCanGrant(caller.permissions, permissionsOfRoles(ctx, body.roles));
  const user = await createUser(ctx, body);
  audit(ctx, {
    actor,
    ip,
    action: "user.created",
    target: user.id,
    details: { username: user.username, roles: user.roles },
  });
  return user;
}

/** Changes a user's name, status or roles; never one's own roles. */
export function updateUserAs(
  ctx: Ctx,
  { caller, actor, ip }: Acting,
  id: string,
  body: z.infer<typeof s.patchUserBody>,
) {
  if (body.roles) {
    if (id === caller.id) throw new ApiError(403, "you cannot change your own roles");
    assertCanGrant(caller.permissions, permissionsOfRoles(ctx, body.roles));
  }
  // Any change (name, status, roles) needs what deleting needs: holding the user's permissions. Without
  // this a user manager could disable an admin, or rename one to mislead the people who work with them.
  assertOutranks(ctx, caller, id);
  const user = updateUser(ctx, id, body);
  audit(ctx, {
    actor,
    ip,
    action: body.roles ? "user.roles_changed" : "user.updated",
    target: user.id,
    details: body,
  });
  return user;
}

/** Deletes a user other than oneself. */
export function deleteUserAs(ctx: Ctx, { caller, actor, ip }: Acting, id: string): void {
  if (id === caller.id) throw new ApiError(409, "you cannot delete yourself");
  assertOutranks(ctx, caller, id);
  deleteUser(ctx, id);
  audit(ctx, { actor, ip, action: "user.deleted", target: id });
}

/** Sets a password the user must change; returns the temporary one when none was given. */
export async function resetPasswordAs(
  ctx: Ctx,
  { caller, actor, ip }: Acting,
  id: string,
  body: z.infer<typeof s.resetPasswordBody>,
) {
  const target = getUser(ctx, id);
  assertCanGrant(caller.permissions, permissionsOfRoles(ctx, target.roles));
  const pw = body.password ?? temporaryPassword(target.username);
  await setPassword(ctx, id, pw, true);
  audit(ctx, { actor, ip, action: "password.reset", target: id });
  return { reset: true, mustChangePassword: true, ...(body.password ? {} : { temporaryPassword: pw }) };
}

/** Lifts a login lock. */
export function unlockUserAs(ctx: Ctx, { caller, actor, ip }: Acting, id: string): void {
  assertOutranks(ctx, caller, id);
  unlockUser(ctx, id);
  audit(ctx, { actor, ip, action: "account.unlocked", target: id });
}

/** Ends every session of a user; returns how many. */
export function endUserSessionsAs(ctx: Ctx, { caller, actor, ip }: Acting, id: string): number {
  assertOutranks(ctx, caller, id);
  const n = revokeUserSessions(ctx, id);
  audit(ctx, { actor, ip, action: "sessions.revoked", target: id, details: { sessions: n } });
  return n;
}
