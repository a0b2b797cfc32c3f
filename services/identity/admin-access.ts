/**
 * What an admin does to roles, teams, API keys and signing keys, with its checks and audit entries. Plain
 * functions: routes-roles.ts, routes-teams.ts and routes-keys.ts map HTTP onto them.
 */
import type { z } from "zod";
import type { ServiceContext } from "../../appliance/kit/index.js";
import { assertOutranks } from "./admin-users.js";
import { listApiKeys, revokeApiKey } from "./api-keys.js";
import { audit } from "./audit.js";
import type { IdentityConfig } from "./config.js";
import { assertCanGrant, createRole, deleteRole, getRole, updateRole } from "./roles.js";
import type { Acting } from "./route-caller.js";
import type * as s from "./schemas.js";
import { rotateSigningKey } from "./signing.js";
import {
  addMember,
  assertCanManageMembers,
  createTeam,
  deleteTeam,
  managesEveryTeam,
  removeMember,
} from "./teams.js";

type Ctx = ServiceContext<IdentityConfig>;

/** Creates a custom role of permissions the caller holds. */
export function createRoleAs(ctx: Ctx, { caller, actor, ip }: Acting, body: z.infer<typeof s.roleBody>) {
  assertCanGrant(caller.permissions, body.permissions);
  return ctx.tx(() => {
    const r = createRole(ctx, body);
    audit(ctx, {
      actor,
      ip,
      action: "role.created",
      target: r.name,
      details: { permissions: r.permissions },
    });
    return r;
  });
}

/** Changes a custom role; the caller must hold what it had and what it gets. */
export function updateRoleAs(
  ctx: Ctx,
  { caller, actor, ip }: Acting,
  name: string,
  body: z.infer<typeof s.patchRoleBody>,
) {
  assertCanGrant(caller.permissions, [
    ...(body.permissions ?? []),
    ...(getRole(ctx, name)?.permissions ?? []),
  ]);
  return ctx.tx(() => {
    const r = updateRole(ctx, name, body);
    audit(ctx, {
      actor,
      ip,
      action: "role.changed",
      target: r.name,
      details: { permissions: r.permissions },
    });
    return r;
  });
}

/** Deletes a custom role. */
export function deleteRoleAs(ctx: Ctx, { caller, actor, ip }: Acting, name: string): void {
  // Deleting a role takes rights away from its holders: only someone holding all of them may.
  assertCanGrant(caller.permissions, getRole(ctx, name)?.permissions ?? []);
  ctx.tx(() => {
    deleteRole(ctx, name);
    audit(ctx, { actor, ip, action: "role.deleted", target: name });
  });
}

/** Creates a team. */
export function createTeamAs(ctx: Ctx, { caller, actor, ip }: Acting, name: string) {
  return ctx.tx(() => {
    let t = createTeam(ctx, name);
    // Who cannot reach every team joins the one they made, so they can manage (and delete) it.
    if (!managesEveryTeam(caller)) t = addMember(ctx, t.id, caller.id);
    audit(ctx, { actor, ip, action: "team.created", target: t.id, details: { name: t.name } });
    return t;
  });
}

/** Deletes a team the caller may manage (a member of it, or one who reaches every team). */
export function deleteTeamAs(ctx: Ctx, { caller, actor, ip }: Acting, id: string): void {
  assertCanManageMembers(ctx, caller, id);
  deleteTeam(ctx, id);
  audit(ctx, { actor, ip, action: "team.deleted", target: id });
}

/** Adds a member to a team the caller may manage. */
export function addMemberAs(ctx: Ctx, { caller, actor, ip }: Acting, teamId: string, userId: string) {
  assertCanManageMembers(ctx, caller, teamId);
  const t = addMember(ctx, teamId, userId);
  audit(ctx, { actor, ip, action: "team.member_added", target: teamId, details: { userId } });
  return t;
}

/** Removes a member from a team the caller may manage. */
export function removeMemberAs(ctx: Ctx, { caller, actor, ip }: Acting, teamId: string, userId: string) {
  assertCanManageMembers(ctx, caller, teamId);
  const t = removeMember(ctx, teamId, userId);
  audit(ctx, { actor, ip, action: "team.member_removed", target: teamId, details: { userId } });
  return t;
}

/** Revokes anyone's API key, if the caller outranks its owner. */
export function revokeAnyApiKeyAs(ctx: Ctx, { caller, actor, ip }: Acting, id: string): void {
  const owner = listApiKeys(ctx).find((k) => k.id === id)?.userId;
  if (owner) assertOutranks(ctx, caller, owner);
  revokeApiKey(ctx, id);
  audit(ctx, { actor, ip, action: "apikey.revoked", target: id });
}

/** Rotates the token signing key; returns the new key id. */
export function rotateSigningKeyAs(ctx: Ctx, { actor, ip }: Acting): string {
  const kid = rotateSigningKey(ctx);
  audit(ctx, { actor, ip, action: "signing_key.rotated", target: kid });
  return kid;
}
