/**
 * Teams: named groups of users (ownership and sharing in files and other services use them).
 *
 * Membership grants what the team holds (its files space), so managing a team's members follows "nobody
 * grants more than they hold": besides `identity:teams:write` (the route's rule) the caller must be in the
 * team already, or reach every team's space anyway (`files:admin`, which admins hold). Without this,
 * `identity:teams:write` alone let anyone add themselves to any team and read its files. Deleting a team follows
 * the same rule, and who makes a team without reaching every team becomes its first member.
 */
import { randomUUID } from "node:crypto";
import { ApiError, hasPermission, type ServiceContext } from "../../appliance/kit/index.js";
import type { IdentityConfig } from "./config.js";
import { userRow } from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;

export interface Team {
  id: string;
  name: string;
  members: { id: string; username: string }[];
}

/** Ids of the teams `userId` belongs to. */
export function teamsOf(ctx: Ctx, userId: string): string[] {
  const rows = ctx.db
    .prepare("SELECT team_id FROM team_members WHERE user_id = ? ORDER BY team_id")
    .all(userId);
  return (rows as { team_id: string }[]).map((r) => r.team_id);
}

/** Reaches every team's space, so adding to any team grants nothing its holder lacks. */
const EVERY_TEAM = "files:admin";

/** Whether `caller` reaches every team's space, and so may manage any team. */
export function managesEveryTeam(caller: { permissions: string[] }): boolean {
  return hasPermission(caller.permissions, EVERY_TEAM);
}

/**
 * 403 unless `caller` may add or remove members of `teamId`, or delete it (see the header); 404 for an unknown
 * team.
 */
export function assertCanManageMembers(
  ctx: Ctx,
  caller: { id: string; permissions: string[] },
  teamId: string,
): void {
  getTeam(ctx, teamId);
  if (managesEveryTeam(caller) || teamsOf(ctx, caller.id).includes(teamId)) return;
  throw new ApiError(403, "only members of this team (or holders of files:admin) manage its members", {
    needs: EVERY_TEAM,
  });
}

export function listTeams(ctx: Ctx): Team[] {
  const teams = ctx.db.prepare("SELECT id, name FROM teams ORDER BY name").all() as {
    id: string;
    name: string;
  }[];
  const members = ctx.db.prepare(
    "SELECT u.id, u.username FROM team_members m JOIN users u ON u.id = m.user_id WHERE m.team_id = ? ORDER BY u.username",
  );
  return teams.map((t) => ({ ...t, members: members.all(t.id) as Team["members"] }));
}

export function getTeam(ctx: Ctx, id: string): Team {
  const t = listTeams(ctx).find((x) => x.id === id);
  if (!t) throw new ApiError(404, "no such team");
  return t;
}

export function createTeam(ctx: Ctx, name: string): Team {
  const id = randomUUID();
  ctx.tx(() => {
    if (ctx.db.prepare("SELECT 1 FROM teams WHERE name = ?").get(name))
      throw new ApiError(409, "a team with that name exists");
    ctx.db
      .prepare("INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)")
      .run(id, name, new Date().toISOString());
    ctx.emit("team.created", { id, name });
  });
  return getTeam(ctx, id);
}

export function deleteTeam(ctx: Ctx, id: string): void {
  ctx.tx(() => {
    if (!ctx.db.prepare("DELETE FROM teams WHERE id = ?").run(id).changes)
      throw new ApiError(404, "no such team");
    ctx.emit("team.deleted", { id });
  });
}

export function addMember(ctx: Ctx, teamId: string, userId: string): Team {
  getTeam(ctx, teamId);
  if (!userRow(ctx, userId)) throw new ApiError(404, "no such user");
  ctx.tx(() => {
    ctx.db.prepare("INSERT OR IGNORE INTO team_members (team_id, user_id) VALUES (?, ?)").run(teamId, userId);
    ctx.emit("team.member_added", { teamId, userId });
  });
  return getTeam(ctx, teamId);
}

export function removeMember(ctx: Ctx, teamId: string, userId: string): Team {
  ctx.tx(() => {
    if (
      !ctx.db.prepare("DELETE FROM team_members WHERE team_id = ? AND user_id = ?").run(teamId, userId)
        .changes
    ) {
      throw new ApiError(404, "not a member");
    }
    ctx.emit("team.member_removed", { teamId, userId });
  });
  return getTeam(ctx, teamId);
}
