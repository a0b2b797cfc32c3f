/** Admin routes for users: the accounts, then their passwords, locks and sessions. */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { jsonRoute, type ServiceContext } from "../../appliance/kit/index.js";
import {
  createUserAs,
  deleteUserAs,
  endUserSessionsAs,
  resetPasswordAs,
  unlockUserAs,
  updateUserAs,
} from "./admin-users.js";
import type { IdentityConfig } from "./config.js";
import { who } from "./route-caller.js";
import * as s from "./schemas.js";
import { listSessions } from "./sessions.js";
import { getUser, listUsers } from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;

/** Registers the user routes, accounts first (the order is the served document's). */
export function userRoutes(app: OpenAPIHono, ctx: Ctx) {
  userAccountRoutes(app, ctx);
  userAccessRoutes(app, ctx);
}

/** List, create, read, change and delete users. */
function userAccountRoutes(app: OpenAPIHono, ctx: Ctx) {
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
    async (c, { body }) => c.json(await createUserAs(ctx, who(c), body), 201),
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
    (c, { params, body }) => c.json(updateUserAs(ctx, who(c), params.id, body), 200),
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
      deleteUserAs(ctx, who(c), params.id);
      return c.json({ deleted: true }, 200);
    },
  );
}

/** A user's password, login lock and sessions. */
function userAccessRoutes(app: OpenAPIHono, ctx: Ctx) {
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
    async (c, { params, body }) => c.json(await resetPasswordAs(ctx, who(c), params.id, body), 200),
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
      unlockUserAs(ctx, who(c), params.id);
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
    (c, { params }) => c.json({ revoked: endUserSessionsAs(ctx, who(c), params.id) }, 200),
  );
}
