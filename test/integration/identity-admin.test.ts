/**
 * Roles, teams and administration: privilege escalation attempts by users with fewer rights.
 *
 * Part of the identity service's end-to-end tests, against real appliances (supervisor, nats-server, identity +
 * system processes, the gateway); the harness is test/helpers/identity.ts. States that would take minutes to
 * reach on the clock are set directly in identity.db. Every secret the tests handle is recorded, and the file's
 * afterAll checks that none reached a log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addRole,
  addUser,
  auditEntries,
  type Body,
  type Box,
  bearer,
  call,
  createKey,
  expectError,
  finishIdentityFile,
  LOCALHOST,
  login,
  loginOk,
  ONE_APPLIANCE,
  ONE_APPLIANCE_ENV,
  pw,
  type Session,
  setupAdmin,
  startIdentity,
  type UserInfo,
  withCookie,
} from "../helpers/identity.js";

afterAll(finishIdentityFile);

describe(ONE_APPLIANCE, () => {
  let box: Box;
  let admin: Session;
  beforeAll(async () => {
    box = await startIdentity(ONE_APPLIANCE_ENV);
    admin = await setupAdmin(box, "admin");
  });
  afterAll(async () => {
    await box?.stop();
  });

  describe("privilege escalation", () => {
    let viewer: Session;
    let victim: UserInfo;
    let victimSession: Session;
    let teamId: string;
    let adminKey: { id: string; secret: string };
    beforeAll(async () => {
      victim = await addUser(box, admin, "esc-victim", ["viewer"]);
      victimSession = await loginOk(box, victim.username, victim.password);
      const v = await addUser(box, admin, "esc-viewer", ["viewer"]);
      viewer = await loginOk(box, v.username, v.password);
      await addRole(box, admin, "esc-probe", ["files:read"]);
      const t = await call(box, "POST", "/teams", { as: bearer(admin), body: { name: "esc-team" } });
      expect(t.status).toBe(201);
      teamId = t.body.id;
      const m = await call(box, "POST", `/teams/${teamId}/members`, {
        as: bearer(admin),
        body: { userId: victim.id },
      });
      expect(m.status).toBe(200);
      adminKey = await createKey(box, bearer(admin), ["system:read"]);
    });

    async function snapshot(): Promise<string> {
      const as = bearer(admin);
      const parts = await Promise.all(
        ["/users?limit=500", "/roles", "/teams", "/api-keys", "/signing-keys"].map((p) =>
          call(box, "GET", p, { as }),
        ),
      );
      for (const p of parts) expect(p.status).toBe(200);
      const keys = parts[3]!.body.keys.map((k: Body) => ({ ...k, lastUsedAt: null }));
      return JSON.stringify([parts[0]!.body, parts[1]!.body, parts[2]!.body, keys, parts[4]!.body]);
    }

    const ADMIN_CALLS: [method: string, path: string, body: unknown, needs: string][] = [
      ["GET", "/users", undefined, "identity:users:read"],
      [
        "POST",
        "/users",
        { username: "esc-new", password: "Esc-New-Password-1", roles: ["admin"] },
        "identity:users:write",
      ],
      ["GET", "/users/:victim", undefined, "identity:users:read"],
      ["PATCH", "/users/:victim", { roles: ["admin"] }, "identity:users:write"],
      ["PATCH", "/users/:victim", { status: "disabled" }, "identity:users:write"],
      ["DELETE", "/users/:victim", undefined, "identity:users:write"],
      ["POST", "/users/:victim/reset-password", {}, "identity:users:write"],
      ["POST", "/users/:victim/unlock", undefined, "identity:users:write"],
      ["GET", "/users/:victim/sessions", undefined, "identity:users:read"],
      ["DELETE", "/users/:victim/sessions", undefined, "identity:sessions:write"],
      ["GET", "/roles", undefined, "identity:roles:read"],
      ["POST", "/roles", { name: "esc-role", permissions: ["*"] }, "identity:roles:write"],
      ["PATCH", "/roles/esc-probe", { permissions: ["*"] }, "identity:roles:write"],
      ["DELETE", "/roles/esc-probe", undefined, "identity:roles:write"],
      ["GET", "/teams", undefined, "identity:teams:read"],
      ["POST", "/teams", { name: "esc-team-2" }, "identity:teams:write"],
      ["DELETE", "/teams/:team", undefined, "identity:teams:write"],
      ["POST", "/teams/:team/members", { userId: "x" }, "identity:teams:write"],
      ["DELETE", "/teams/:team/members/:victim", undefined, "identity:teams:write"],
      ["GET", "/api-keys", undefined, "identity:keys:read"],
      ["DELETE", "/api-keys/:key", undefined, "identity:keys:write"],
      ["GET", "/audit", undefined, "identity:audit:read"],
      ["GET", "/signing-keys", undefined, "identity:signing:read"],
      ["POST", "/signing-keys/rotate", undefined, "identity:signing:write"],
    ];

    it.each(ADMIN_CALLS)("viewer: %s %s → 403, nothing changes", async (method, pattern, body, needs) => {
      const path = pattern
        .replace(":victim", victim.id)
        .replace(":team", teamId)
        .replace(":key", adminKey.id);
      const before = await snapshot();
      for (const as of [bearer(viewer), withCookie(viewer)]) {
        const r = await call(box, method, path, { as, body });
        expectError(r, 403, "permission denied");
        expect(r.body.data).toEqual({ needs });
      }
      expect(await snapshot()).toBe(before);
      expect((await call(box, "GET", "/me", { as: { cookie: victimSession.cookie } })).status).toBe(200);
      expect((await call(box, "GET", "/api/system/settings", { as: { key: adminKey.secret } })).status).toBe(
        200,
      );
    });

    describe("a user manager (identity:users:* and identity:roles:*, not *)", () => {
      let manager: Session;
      beforeAll(async () => {
        await addRole(box, admin, "user-manager", [
          "identity:users:read",
          "identity:users:write",
          "identity:roles:read",
          "identity:roles:write",
        ]);
        const u = await addUser(box, admin, "esc-manager", ["user-manager"]);
        manager = await loginOk(box, u.username, u.password);
      });

      const GRANTS: [
        name: string,
        method: string,
        path: (v: string, a: string, m: string) => string,
        body: unknown,
        status: number,
      ][] = [
        [
          "create an admin",
          "POST",
          () => "/users",
          { username: "esc-admin2", password: "Esc-Admin-Two-1", roles: ["admin"] },
          403,
        ],
        [
          "create an operator (system:* it lacks)",
          "POST",
          () => "/users",
          { username: "esc-op", password: "Esc-Operator-1", roles: ["operator"] },
          403,
        ],
        ["make a viewer admin", "PATCH", (v) => `/users/${v}`, { roles: ["admin"] }, 403],
        ["demote the admin", "PATCH", (_v, a) => `/users/${a}`, { roles: ["user-manager"] }, 403],
        ["disable the admin", "PATCH", (_v, a) => `/users/${a}`, { status: "disabled" }, 403],
        ["reset the admin's password", "POST", (_v, a) => `/users/${a}/reset-password`, {}, 403],
        ["delete the admin", "DELETE", (_v, a) => `/users/${a}`, undefined, 403],
        ["give itself admin", "PATCH", (_v, _a, m) => `/users/${m}`, { roles: ["admin"] }, 403],
        [
          "change its own roles at all",
          "PATCH",
          (_v, _a, m) => `/users/${m}`,
          { roles: ["user-manager", "viewer"] },
          403,
        ],
        ["create a role with *", "POST", () => "/roles", { name: "esc-star", permissions: ["*"] }, 403],
        [
          "create a role with system:write",
          "POST",
          () => "/roles",
          { name: "esc-sys", permissions: ["system:write"] },
          403,
        ],
        [
          "create a role with identity:*",
          "POST",
          () => "/roles",
          { name: "esc-id", permissions: ["identity:*"] },
          403,
        ],
        [
          "create a role with identity:users:*",
          "POST",
          () => "/roles",
          { name: "esc-idu", permissions: ["identity:users:*"] },
          403,
        ],
        [
          "create a role with identity:keys:write",
          "POST",
          () => "/roles",
          { name: "esc-keys", permissions: ["identity:keys:write"] },
          403,
        ],
        [
          "add * to its own role",
          "PATCH",
          () => "/roles/user-manager",
          { permissions: ["identity:users:write", "*"] },
          403,
        ],
        ["widen a role it cannot grant", "PATCH", () => "/roles/esc-probe", { description: "mine now" }, 403],
        ["create a key with *", "POST", () => "/me/api-keys", { name: "k", permissions: ["*"] }, 403],
      ];

      it.each(GRANTS)("cannot %s", async (_name, method, path, body, status) => {
        const before = await snapshot();
        const r = await call(box, method, path(victim.id, admin.id, manager.id), {
          as: bearer(manager),
          body,
        });
        expectError(r, status);
        expect(r.body.message).toMatch(/cannot grant|own roles|permission denied/);
        expect(await snapshot()).toBe(before);
      });

      it("the admin is untouched: still admin, active, same password", async () => {
        const u = await call(box, "GET", `/users/${admin.id}`, { as: bearer(admin) });
        expect(u.body).toMatchObject({ roles: ["admin"], status: "active" });
        expect((await login(box, admin.username, admin.password)).status).toBe(200);
      });

      it("can do what it holds (control): create a plain user and a role within its permissions", async () => {
        const u = await call(box, "POST", "/users", {
          as: bearer(manager),
          body: { username: "esc-plain", password: pw(), roles: [] },
        });
        expect(u.status).toBe(201);
        const r = await call(box, "POST", "/roles", {
          as: bearer(manager),
          body: { name: "esc-reader", permissions: ["identity:users:read"] },
        });
        expect(r.status).toBe(201);
        const g = await call(box, "PATCH", `/users/${u.body.id}`, {
          as: bearer(manager),
          body: { roles: ["esc-reader"] },
        });
        expect(g.status).toBe(200);
        expect(g.body.roles).toEqual(["esc-reader"]);
        const [e] = await auditEntries(box, bearer(admin), "&action=user.roles_changed");
        expect(e).toMatchObject({
          actor: "esc-manager",
          target: u.body.id,
          details: { roles: ["esc-reader"] },
        });
        expect(e.ip).toMatch(LOCALHOST);
      });
    });

    it("a user cannot revoke another user's API key (404), and the key keeps working", async () => {
      const r = await call(box, "DELETE", `/me/api-keys/${adminKey.id}`, { as: bearer(viewer) });
      expectError(r, 404, "no such key");
      expect((await call(box, "GET", "/api/system/settings", { as: { key: adminKey.secret } })).status).toBe(
        200,
      );
      const keys = await call(box, "GET", "/api-keys", { as: bearer(admin) });
      expect(keys.body.keys.find((k: Body) => k.id === adminKey.id).revokedAt).toBeNull();
    });

    describe("the last admin", () => {
      let root: Session;
      beforeAll(async () => {
        // A user holding * through a custom role: every check passes but the last-admin rule.
        await addRole(box, admin, "superuser", ["*"]);
        const u = await addUser(box, admin, "esc-root", ["superuser"]);
        root = await loginOk(box, u.username, u.password);
      });

      const LAST: [name: string, method: string, body: unknown, by: "itself" | "superuser"][] = [
        ["disable itself", "PATCH", { status: "disabled" }, "itself"],
        ["delete itself", "DELETE", undefined, "itself"],
        ["be demoted by a superuser", "PATCH", { roles: ["superuser"] }, "superuser"],
        ["be disabled by a superuser", "PATCH", { status: "disabled" }, "superuser"],
        ["be deleted by a superuser", "DELETE", undefined, "superuser"],
      ];
      it.each(LAST)("cannot %s (409)", async (_name, method, body, by) => {
        const r = await call(box, method, `/users/${admin.id}`, {
          as: bearer(by === "itself" ? admin : root),
          body,
        });
        expectError(r, 409);
        const u = await call(box, "GET", `/users/${admin.id}`, { as: bearer(admin) });
        expect(u.body).toMatchObject({ roles: ["admin"], status: "active" });
        expect((await call(box, "GET", "/me", { as: { cookie: admin.cookie } })).status).toBe(200);
      });

      it("with a second admin, demoting one works (control)", async () => {
        const second = await addUser(box, admin, "esc-admin-b", ["admin"]);
        const r = await call(box, "PATCH", `/users/${second.id}`, {
          as: bearer(root),
          body: { roles: ["viewer"] },
        });
        expect(r.status).toBe(200);
        expectError(
          await call(box, "PATCH", `/users/${admin.id}`, { as: bearer(root), body: { roles: ["viewer"] } }),
          409,
        );
      });
    });
  });

  describe("teams", () => {
    it("create, add and remove members, delete; names are stored as given", async () => {
      const u = await addUser(box, admin, "team-member", ["viewer"]);
      const name = "Ops <b>&</b> 'Field' \"Team\"";
      const t = await call(box, "POST", "/teams", { as: bearer(admin), body: { name } });
      expect(t.status).toBe(201);
      expect(t.body).toMatchObject({ name, members: [] });
      expectError(
        await call(box, "POST", "/teams", { as: bearer(admin), body: { name: name.toUpperCase() } }),
        409,
      );
      const m = await call(box, "POST", `/teams/${t.body.id}/members`, {
        as: bearer(admin),
        body: { userId: u.id },
      });
      expect(m.body.members).toEqual([{ id: u.id, username: "team-member" }]);
      expect((await call(box, "GET", `/users/${u.id}`, { as: bearer(admin) })).body.teams).toEqual([name]);
      expectError(
        await call(box, "POST", `/teams/${t.body.id}/members`, {
          as: bearer(admin),
          body: { userId: "' OR 1=1 --" },
        }),
        404,
      );
      expect(
        (await call(box, "DELETE", `/teams/${t.body.id}/members/${u.id}`, { as: bearer(admin) })).body
          .members,
      ).toEqual([]);
      expect((await call(box, "DELETE", `/teams/${t.body.id}`, { as: bearer(admin) })).status).toBe(200);
      expectError(await call(box, "DELETE", `/teams/${t.body.id}`, { as: bearer(admin) }), 404);
    });
  });
});
