/** Admin routes for teams and their members. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { jsonRoute, type ServiceContext } from "../../appliance/kit/index.js";
import { addMemberAs, createTeamAs, deleteTeamAs, removeMemberAs } from "./admin-access.js";
import type { IdentityConfig } from "./config.js";
import { who } from "./route-caller.js";
import * as s from "./schemas.js";
import { listTeams } from "./teams.js";

type Ctx = ServiceContext<IdentityConfig>;
const memberParams = z.object({ id: s.id.shape.id, userId: s.id.shape.id });

/** Registers the team routes, teams before members (the order is the served document's). */
export function teamRoutes(app: OpenAPIHono, ctx: Ctx) {
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
    (c, { body }) => c.json(createTeamAs(ctx, who(c), body.name), 201),
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
      deleteTeamAs(ctx, who(c), params.id);
      return c.json({ deleted: true }, 200);
    },
  );
  teamMemberRoutes(app, ctx);
}

/** Add and remove team members. */
function teamMemberRoutes(app: OpenAPIHono, ctx: Ctx) {
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
    (c, { params, body }) => c.json(addMemberAs(ctx, who(c), params.id, body.userId), 200),
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
    (c, { params }) => c.json(removeMemberAs(ctx, who(c), params.id, params.userId), 200),
  );
}
