/** Admin routes: users, roles, teams, all API keys, sessions of others, audit log, signing keys. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import {
  ApiError,
  clientIp,
  jsonRoute,
  requireCaller,
  type ServiceContext,
} from "../../appliance/kit/index.js";
import { listApiKeys, revokeApiKey } from "./api-keys.js";
import { audit, queryAudit } from "./audit.js";
import type { IdentityConfig } from "./config.js";
import { temporaryPassword } from "./passwords.js";
import {
  assertCanGrant,
  createRole,
  deleteRole,
  getRole,
  listRoles,
  permissionsOfRoles,
  updateRole,
} from "./roles.js";
import * as s from "./schemas.js";
import { listSessions } from "./sessions.js";
import { listSigningKeys, rotateSigningKey } from "./signing.js";
import {
  addMember,
  assertCanManageMembers,
  createTeam,
  deleteTeam,
  listTeams,
  removeMember,
} from "./teams.js";
import {
  createUser,
  deleteUser,
  getUser,
  listUsers,
  revokeUserSessions,
  setPassword,
  unlockUser,
  updateUser,
} from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;
const roleParam = z.object({ name: s.roleName });
const memberParams = z.object({ id: s.id.shape.id, userId: s.id.shape.id });

export function adminRoutes(app: OpenAPIHono, ctx: Ctx) {
  /** Acting on a user (their sessions, keys, lock) needs every right they hold: no action against one's betters. */
  const assertOutranks = (caller: { permissions: string[] }, userId: string) =>
    assertCanGrant(caller.permissions, permissionsOfRoles(ctx, getUser(ctx, userId).roles));
  const who = (c: Parameters<typeof clientIp>[0]) => {
    const caller = requireCaller(c);
    return { caller, actor: caller.username ?? caller.id, ip: clientIp(c) };
  };

  jsonRoute(
    app,
    {
      method: "get",
      path: "/users",
      operationId: "listUsers",
      summary: "List users",
      query: s.listQuery,
      response: s.usersOut,
    },
    (c, { query }) => c.json({ users: listUsers(ctx, query) }, 200),
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/users",
      operationId: "createUser",
      summary: "Create a user",
      body: s.createUserBody,
      status: 201,
      response: s.userOut,
      errors: [409],
    },
    async (c, { body }) => {
      const { caller, actor, ip } = who(c);
      assertCanGrant(caller.permissions, permissionsOfRoles(ctx, body.roles));
      const user = await createUser(ctx, body);
      audit(ctx, {
        actor,
        ip,
        action: "user.created",
        target: user.id,
        details: { username: user.username, roles: user.roles },
      });
      return c.json(user, 201);
    },
  );
  jsonRoute(
    app,
    {
      method: "get",
      path: "/users/{id}",
      operationId: "getUser",
      summary: "One user",
      params: s.id,
      response: s.userOut,
      errors: [404],
    },
    (c, { params }) => c.json(getUser(ctx, params.id), 200),
  );
  jsonRoute(
    app,
    {
      method: "patch",
      path: "/users/{id}",
      operationId: "updateUser",
      summary: "Change a user's name, status or roles",
      params: s.id,
      body: s.patchUserBody,
      response: s.userOut,
      errors: [404, 409],
    },
    (c, { params, body }) => {
      const { caller, actor, ip } = who(c);
      if (body.roles) {
        if (params.id === caller.id) throw new ApiError(403, "you cannot change your own roles");
        assertCanGrant(caller.permissions, permissionsOfRoles(ctx, body.roles));
      }
      // Any change (name, status, roles) needs what deleting needs: holding the user's permissions. Without
      // this a user manager could disable an admin, or rename one to mislead the people who work with them.
      assertOutranks(caller, params.id);
      const user = updateUser(ctx, params.id, body);
      audit(ctx, {
        actor,
        ip,
        action: body.roles ? "user.roles_changed" : "user.updated",
        target: user.id,
        details: body,
      });
      return c.json(user, 200);
    },
  );
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/users/{id}",
      operationId: "deleteUser",
      summary: "Delete a user",
      params: s.id,
      response: s.flag("deleted"),
      errors: [404, 409],
    },
    (c, { params }) => {
      const { caller, actor, ip } = who(c);
      if (params.id === caller.id) throw new ApiError(409, "you cannot delete yourself");
      assertCanGrant(caller.permissions, permissionsOfRoles(ctx, getUser(ctx, params.id).roles));
      deleteUser(ctx, params.id);
      audit(ctx, { actor, ip, action: "user.deleted", target: params.id });
      return c.json({ deleted: true }, 200);
    },
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/users/{id}/reset-password",
      operationId: "resetPassword",
      summary: "Admin password reset; returns a temporary password if none is given",
      params: s.id,
      body: s.resetPasswordBody,
      response: s.resetOut,
      errors: [404],
    },
    async (c, { params, body }) => {
      const { caller, actor, ip } = who(c);
      const target = getUser(ctx, params.id);
      assertCanGrant(caller.permissions, permissionsOfRoles(ctx, target.roles));
      const pw = body.password ?? temporaryPassword(target.username);
      await setPassword(ctx, params.id, pw, true);
      audit(ctx, { actor, ip, action: "password.reset", target: params.id });
      return c.json(
        { reset: true, mustChangePassword: true, ...(body.password ? {} : { temporaryPassword: pw }) },
        200,
      );
    },
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/users/{id}/unlock",
      operationId: "unlockUser",
      summary: "Lift a login lock",
      params: s.id,
      response: s.flag("unlocked"),
      errors: [404],
    },
    (c, { params }) => {
      const { caller, actor, ip } = who(c);
      assertOutranks(caller, params.id);
      unlockUser(ctx, params.id);
      audit(ctx, { actor, ip, action: "account.unlocked", target: params.id });
      return c.json({ unlocked: true }, 200);
    },
  );
  jsonRoute(
    app,
    {
      method: "get",
      path: "/users/{id}/sessions",
      operationId: "listUserSessions",
      summary: "A user's live sessions",
      params: s.id,
      response: s.sessionsOut,
      errors: [404],
    },
    (c, { params }) => {
      getUser(ctx, params.id);
      return c.json({ sessions: listSessions(ctx, params.id) }, 200);
    },
  );
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/users/{id}/sessions",
      operationId: "endUserSessions",
      summary: "End every session of a user",
      params: s.id,
      response: s.countOut,
      errors: [404],
    },
    (c, { params }) => {
      const { caller, actor, ip } = who(c);
      assertOutranks(caller, params.id);
      const n = revokeUserSessions(ctx, params.id);
      audit(ctx, { actor, ip, action: "sessions.revoked", target: params.id, details: { sessions: n } });
      return c.json({ revoked: n }, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "get",
      path: "/roles",
      operationId: "listRoles",
      summary: "Built-in and custom roles",
      response: s.rolesOut,
    },
    (c) => c.json({ roles: listRoles(ctx) }, 200),
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/roles",
      operationId: "createRole",
      summary: "Create a custom role",
      body: s.roleBody,
      status: 201,
      response: s.roleOut,
      errors: [409],
    },
    (c, { body }) => {
      const { caller, actor, ip } = who(c);
      assertCanGrant(caller.permissions, body.permissions);
      const role = ctx.tx(() => {
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
      return c.json(role, 201);
    },
  );
  jsonRoute(
    app,
    {
      method: "patch",
      path: "/roles/{name}",
      operationId: "updateRole",
      summary: "Change a custom role",
      params: roleParam,
      body: s.patchRoleBody,
      response: s.roleOut,
      errors: [404, 409],
    },
    (c, { params, body }) => {
      const { caller, actor, ip } = who(c);
      assertCanGrant(caller.permissions, [
        ...(body.permissions ?? []),
        ...(getRole(ctx, params.name)?.permissions ?? []),
      ]);
      const role = ctx.tx(() => {
        const r = updateRole(ctx, params.name, body);
        audit(ctx, {
          actor,
          ip,
          action: "role.changed",
          target: r.name,
          details: { permissions: r.permissions },
        });
        return r;
      });
      return c.json(role, 200);
    },
  );
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/roles/{name}",
      operationId: "deleteRole",
      summary: "Delete a custom role",
      params: roleParam,
      response: s.flag("deleted"),
      errors: [404, 409],
    },
    (c, { params }) => {
      const { caller, actor, ip } = who(c);
      // Deleting a role takes rights away from its holders: only someone holding all of them may.
      assertCanGrant(caller.permissions, getRole(ctx, params.name)?.permissions ?? []);
      ctx.tx(() => {
        deleteRole(ctx, params.name);
        audit(ctx, { actor, ip, action: "role.deleted", target: params.name });
      });
      return c.json({ deleted: true }, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "get",
      path: "/teams",
      operationId: "listTeams",
      summary: "Teams and members",
      response: s.teamsOut,
    },
    (c) => c.json({ teams: listTeams(ctx) }, 200),
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/teams",
      operationId: "createTeam",
      summary: "Create a team",
      body: s.teamBody,
      status: 201,
      response: s.teamOut,
      errors: [409],
    },
    (c, { body }) => {
      const { actor, ip } = who(c);
      const t = createTeam(ctx, body.name);
      audit(ctx, { actor, ip, action: "team.created", target: t.id, details: { name: t.name } });
      return c.json(t, 201);
    },
  );
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/teams/{id}",
      operationId: "deleteTeam",
      summary: "Delete a team",
      params: s.id,
      response: s.flag("deleted"),
      errors: [404],
    },
    (c, { params }) => {
      const { actor, ip } = who(c);
      deleteTeam(ctx, params.id);
      audit(ctx, { actor, ip, action: "team.deleted", target: params.id });
      return c.json({ deleted: true }, 200);
    },
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/teams/{id}/members",
      operationId: "addTeamMember",
      summary: "Add a member",
      params: s.id,
      body: s.memberBody,
      response: s.teamOut,
      errors: [404, 409],
    },
    (c, { params, body }) => {
      const { caller, actor, ip } = who(c);
      assertCanManageMembers(ctx, caller, params.id);
      const t = addMember(ctx, params.id, body.userId);
      audit(ctx, {
        actor,
        ip,
        action: "team.member_added",
        target: params.id,
        details: { userId: body.userId },
      });
      return c.json(t, 200);
    },
  );
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/teams/{id}/members/{userId}",
      operationId: "removeTeamMember",
      summary: "Remove a member",
      params: memberParams,
      response: s.teamOut,
      errors: [404],
    },
    (c, { params }) => {
      const { caller, actor, ip } = who(c);
      assertCanManageMembers(ctx, caller, params.id);
      const t = removeMember(ctx, params.id, params.userId);
      audit(ctx, {
        actor,
        ip,
        action: "team.member_removed",
        target: params.id,
        details: { userId: params.userId },
      });
      return c.json(t, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "get",
      path: "/api-keys",
      operationId: "listApiKeys",
      summary: "Every API key on the box",
      response: s.apiKeysOut,
    },
    (c) => c.json({ keys: listApiKeys(ctx) }, 200),
  );
  jsonRoute(
    app,
    {
      method: "delete",
      path: "/api-keys/{id}",
      operationId: "revokeApiKey",
      summary: "Revoke any API key",
      params: s.id,
      response: s.flag("revoked"),
      errors: [404],
    },
    (c, { params }) => {
      const { caller, actor, ip } = who(c);
      const owner = listApiKeys(ctx).find((k) => k.id === params.id)?.userId;
      if (owner) assertOutranks(caller, owner);
      revokeApiKey(ctx, params.id);
      audit(ctx, { actor, ip, action: "apikey.revoked", target: params.id });
      return c.json({ revoked: true }, 200);
    },
  );

  jsonRoute(
    app,
    {
      method: "get",
      path: "/audit",
      operationId: "queryAudit",
      summary: "Security events, newest first, filtered",
      query: s.auditQuery,
      response: s.auditOut,
    },
    (c, { query }) => c.json({ entries: queryAudit(ctx, query) }, 200),
  );

  jsonRoute(
    app,
    {
      method: "get",
      path: "/signing-keys",
      operationId: "listSigningKeys",
      summary: "Token signing keys (ids and dates)",
      response: s.signingKeysOut,
    },
    (c) => c.json({ keys: listSigningKeys(ctx) }, 200),
  );
  jsonRoute(
    app,
    {
      method: "post",
      path: "/signing-keys/rotate",
      operationId: "rotateSigningKey",
      summary: "Rotate the token signing key; nobody is logged out",
      response: s.kidOut,
    },
    (c) => {
      const { actor, ip } = who(c);
      const kid = rotateSigningKey(ctx);
      audit(ctx, { actor, ip, action: "signing_key.rotated", target: kid });
      return c.json({ kid }, 200);
    },
  );
}
