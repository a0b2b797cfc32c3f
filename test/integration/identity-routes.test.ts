/**
 * Identity's routes and their access rules, and bad input to every endpoint (each answered in the one
 * error shape).
 *
 * Part of the identity service's end-to-end tests, against real appliances (supervisor, nats-server, identity +
 * system processes, the gateway); the harness is test/helpers/identity.ts. States that would take minutes to
 * reach on the clock are set directly in identity.db. Every secret the tests handle is recorded, and the file's
 * afterAll checks that none reached a log.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Body,
  type Box,
  bearer,
  call,
  expectError,
  expectErrorShape,
  finishIdentityFile,
  ONE_APPLIANCE,
  ONE_APPLIANCE_ENV,
  pw,
  Raw,
  type Session,
  setupAdmin,
  startIdentity,
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

  describe("routes and their access rules", () => {
    const PROTECTED: [method: string, path: string][] = [
      ["GET", "/me"],
      ["GET", "/me/sessions"],
      ["DELETE", "/me/sessions/x"],
      ["POST", "/me/password"],
      ["POST", "/me/mfa/enroll"],
      ["POST", "/me/mfa/confirm"],
      ["POST", "/me/mfa/disable"],
      ["GET", "/me/api-keys"],
      ["POST", "/me/api-keys"],
      ["DELETE", "/me/api-keys/x"],
      ["POST", "/token"],
      ["POST", "/logout"],
      ["POST", "/logout-all"],
      ["GET", "/users"],
      ["POST", "/users"],
      ["GET", "/users/x"],
      ["PATCH", "/users/x"],
      ["DELETE", "/users/x"],
      ["POST", "/users/x/reset-password"],
      ["POST", "/users/x/unlock"],
      ["GET", "/users/x/sessions"],
      ["DELETE", "/users/x/sessions"],
      ["GET", "/roles"],
      ["POST", "/roles"],
      ["PATCH", "/roles/x"],
      ["DELETE", "/roles/x"],
      ["GET", "/teams"],
      ["POST", "/teams"],
      ["DELETE", "/teams/x"],
      ["POST", "/teams/x/members"],
      ["DELETE", "/teams/x/members/y"],
      ["GET", "/api-keys"],
      ["DELETE", "/api-keys/x"],
      ["GET", "/audit"],
      ["GET", "/signing-keys"],
      ["POST", "/signing-keys/rotate"],
      ["POST", "/internal/introspect"],
      ["POST", "/internal/setup-token"],
      ["GET", "/no-such-route"],
    ];
    const BAD_CREDS: [name: string, headers: Record<string, string>][] = [
      ["no credentials", {}],
      ["empty session cookie", { cookie: "nexus_session=" }],
      ["made-up session cookie", { cookie: `nexus_session=${randomBytes(32).toString("base64url")}` }],
      ["600-character cookie", { cookie: `nexus_session=${"a".repeat(600)}` }],
      ["made-up API key", { "x-api-key": `nxk_${"a".repeat(12)}_${"b".repeat(43)}` }],
      [
        "forged principal header",
        {
          "x-nexus-principal": JSON.stringify({
            id: "x",
            roles: ["admin"],
            permissions: ["*"],
            via: "token",
          }),
        },
      ],
      ["internal token guess", { "x-nexus-internal": "guess" }],
    ];

    it.each(PROTECTED)("%s %s: anonymous and forged credentials → 401", async (method, path) => {
      for (const [name, headers] of BAD_CREDS) {
        const r = await call(box, method, path, {
          headers,
          body: method === "GET" || method === "DELETE" ? undefined : {},
        });
        expect(r.status, `${name}: ${r.text}`).toBe(401);
        expectErrorShape(r.body, 401, "authentication required");
        expect(r.headers.get("www-authenticate")).toBe("Bearer");
      }
    });

    it("public routes answer without credentials", async () => {
      expect((await call(box, "GET", "/setup")).body).toEqual({ needed: false });
      expectError(await call(box, "POST", "/login", { body: {} }), 400, "invalid request");
      expectError(
        await call(box, "POST", "/setup", { body: { token: "x", username: "abc", password: pw() } }),
        409,
      );
      const jwks = await call(box, "GET", "/jwks");
      expect(jwks.status).toBe(200);
      expect(jwks.body.keys.length).toBeGreaterThanOrEqual(1);
      for (const k of jwks.body.keys) {
        expect(k).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
        expect(k).not.toHaveProperty("d");
      }
      expect(jwks.text).not.toContain("PRIVATE");
    });

    it("internal routes are never routed, not even for an admin", async () => {
      for (const [method, path] of [
        ["POST", "/internal/introspect"],
        ["POST", "/internal/setup-token"],
        ["GET", "/internal"],
      ] as const) {
        const r = await call(box, method, path, {
          as: bearer(admin),
          body: method === "POST" ? { kind: "session", secret: admin.cookie } : undefined,
        });
        expectError(r, 404, "no such route");
      }
    });
  });

  describe("bad input to every endpoint", () => {
    const NIL = "00000000-0000-0000-0000-000000000000";
    const long = (n: number) => "x".repeat(n);
    const newUser = (extra: Record<string, unknown>) => ({ username: "mallory", password: pw(), ...extra });
    const role = (extra: Record<string, unknown>) => ({
      name: "probe-role",
      permissions: ["system:read"],
      ...extra,
    });
    const key = (extra: Record<string, unknown>) => ({ name: "k", permissions: ["system:read"], ...extra });
    const CASES: [
      name: string,
      method: string,
      path: string,
      body: unknown,
      status: number,
      message?: string,
    ][] = [
      ["login: malformed JSON", "POST", "/login", new Raw('{"username":'), 400, "Malformed JSON"],
      ["login: empty body", "POST", "/login", new Raw(""), 400],
      ["login: JSON array", "POST", "/login", [], 400],
      ["login: JSON null", "POST", "/login", new Raw("null"), 400],
      [
        "login: unknown field",
        "POST",
        "/login",
        { username: "admin", password: "x", remember: true },
        400,
        "invalid request",
      ],
      [
        "login: __proto__ field",
        "POST",
        "/login",
        new Raw('{"username":"admin","password":"x","__proto__":{"admin":true}}'),
        400,
      ],
      ["login: username a number", "POST", "/login", { username: 1, password: "x" }, 400],
      ["login: password null", "POST", "/login", { username: "admin", password: null }, 400],
      ["login: missing password", "POST", "/login", { username: "admin" }, 400],
      ["login: totp a number", "POST", "/login", { username: "admin", password: "x", totp: 123456 }, 400],
      ["login: username over 64", "POST", "/login", { username: long(65), password: "x" }, 400],
      ["login: password over 256", "POST", "/login", { username: "admin", password: long(257) }, 400],
      ["login: totp over 32", "POST", "/login", { username: "admin", password: "x", totp: long(33) }, 400],
      ["setup after setup", "POST", "/setup", { token: "t", username: "again", password: "x" }, 409],
      ["users: unknown field isAdmin", "POST", "/users", newUser({ isAdmin: true }), 400, "invalid request"],
      ["users: roles a string", "POST", "/users", newUser({ roles: "admin" }), 400],
      [
        "users: role name SQL injection",
        "POST",
        "/users",
        newUser({ roles: ["admin'; DROP TABLE users; --"] }),
        400,
      ],
      ["users: unknown role", "POST", "/users", newUser({ roles: ["ghost"] }), 400, "unknown roles"],
      ["users: 21 roles", "POST", "/users", newUser({ roles: Array(21).fill("viewer") }), 400],
      ["users: username SQL injection", "POST", "/users", newUser({ username: "x' OR '1'='1" }), 400],
      ["users: username path traversal", "POST", "/users", newUser({ username: "../../etc/passwd" }), 400],
      ["users: username with NUL", "POST", "/users", newUser({ username: "mal\u0000lory" }), 400],
      ["users: username HTML", "POST", "/users", newUser({ username: "<img src=x>" }), 400],
      ["users: username homoglyph (Cyrillic a)", "POST", "/users", newUser({ username: "\u0430dmin" }), 400],
      ["users: username over 64", "POST", "/users", newUser({ username: long(65) }), 400],
      ["users: display name over 128", "POST", "/users", newUser({ displayName: long(129) }), 400],
      ["users: blank display name", "POST", "/users", newUser({ displayName: " \t " }), 400],
      ["users: mustChangePassword a string", "POST", "/users", newUser({ mustChangePassword: "yes" }), 400],
      ["users: weak password", "POST", "/users", newUser({ password: "Short-1" }), 400, "at least 10"],
      [
        "users: password with the username",
        "POST",
        "/users",
        newUser({ password: "xx-MALLORY-xx-1" }),
        400,
        "must not contain",
      ],
      ["users: username taken (other case)", "POST", "/users", newUser({ username: "ADMIN" }), 409, "taken"],
      ["users: list limit 0", "GET", "/users?limit=0", undefined, 400],
      ["users: list limit 501", "GET", "/users?limit=501", undefined, 400],
      ["users: list limit not a number", "GET", "/users?limit=abc", undefined, 400],
      ["users: list offset -1", "GET", "/users?offset=-1", undefined, 400],
      ["users: search over 64", "GET", `/users?search=${long(65)}`, undefined, 400],
      ["user: id with a dot", "GET", "/users/abc.def", undefined, 400],
      ["user: id over 64", "GET", `/users/${long(65)}`, undefined, 400],
      ["user: id SQL injection", "GET", `/users/${encodeURIComponent("1' OR '1'='1")}`, undefined, 400],
      ["user: encoded slash traversal", "GET", "/users/..%2f..%2faudit", undefined, 400],
      ["user: unknown id", "GET", `/users/${NIL}`, undefined, 404, "no such user"],
      ["patch user: status root", "PATCH", `/users/${NIL}`, { status: "root" }, 400],
      ["patch user: roles of numbers", "PATCH", `/users/${NIL}`, { roles: [1, 2] }, 400],
      ["patch user: unknown field password", "PATCH", `/users/${NIL}`, { password: "x" }, 400],
      ["patch user: unknown id", "PATCH", `/users/${NIL}`, { displayName: "x" }, 404],
      ["delete user: unknown id", "DELETE", `/users/${NIL}`, undefined, 404],
      [
        "reset password: unknown field",
        "POST",
        `/users/${NIL}/reset-password`,
        { password: "x", notify: true },
        400,
      ],
      ["reset password: unknown id", "POST", `/users/${NIL}/reset-password`, {}, 404],
      ["unlock: unknown id", "POST", `/users/${NIL}/unlock`, undefined, 404],
      ["user sessions: unknown id", "GET", `/users/${NIL}/sessions`, undefined, 404],
      ["end user sessions: unknown id", "DELETE", `/users/${NIL}/sessions`, undefined, 404],
      ["roles: upper-case name", "POST", "/roles", role({ name: "Probe" }), 400],
      ["roles: one-letter name", "POST", "/roles", role({ name: "p" }), 400],
      ["roles: SQL injection name", "POST", "/roles", role({ name: "x'); DROP TABLE roles; --" }), 400],
      ["roles: path traversal name", "POST", "/roles", role({ name: "../admin" }), 400],
      ["roles: name over 40", "POST", "/roles", role({ name: `p${"a".repeat(40)}` }), 400],
      ["roles: no permissions", "POST", "/roles", role({ permissions: [] }), 400],
      ["roles: not a permission", "POST", "/roles", role({ permissions: ["not a permission"] }), 400],
      ["roles: permission injection", "POST", "/roles", role({ permissions: ["system:read' OR 1=1"] }), 400],
      ["roles: five segments", "POST", "/roles", role({ permissions: ["a:b:c:d:e"] }), 400],
      [
        "roles: 101 permissions",
        "POST",
        "/roles",
        role({ permissions: Array(101).fill("system:read") }),
        400,
      ],
      ["roles: description over 256", "POST", "/roles", role({ description: long(257) }), 400],
      ["roles: unknown field builtin", "POST", "/roles", role({ builtin: true }), 400],
      ["roles: name of a built-in", "POST", "/roles", role({ name: "viewer" }), 409],
      ["role: change a built-in", "PATCH", "/roles/viewer", { description: "x" }, 409, "built-in"],
      ["role: change an unknown one", "PATCH", "/roles/ghost", { description: "x" }, 404],
      ["role: upper-case name", "PATCH", "/roles/Viewer", { description: "x" }, 400],
      ["role: unknown field", "PATCH", "/roles/ghost", { builtin: false }, 400],
      ["role: delete a built-in", "DELETE", "/roles/admin", undefined, 409, "built-in"],
      ["role: delete an unknown one", "DELETE", "/roles/ghost", undefined, 404],
      ["role: encoded traversal", "DELETE", "/roles/..%2fusers", undefined, 400],
      ["teams: empty name", "POST", "/teams", { name: "" }, 400],
      ["teams: name over 64", "POST", "/teams", { name: long(65) }, 400],
      ["teams: unknown field", "POST", "/teams", { name: "t", owner: "admin" }, 400],
      ["team: delete unknown", "DELETE", `/teams/${NIL}`, undefined, 404],
      ["team: add member to unknown team", "POST", `/teams/${NIL}/members`, { userId: NIL }, 404],
      ["team: member id over 64", "POST", `/teams/${NIL}/members`, { userId: long(65) }, 400],
      ["team: remove, id with a dot", "DELETE", "/teams/x.y/members/z", undefined, 400],
      ["team: remove non-member", "DELETE", `/teams/${NIL}/members/${NIL}`, undefined, 404],
      ["keys: no permissions", "POST", "/me/api-keys", key({ permissions: [] }), 400],
      ["keys: not a permission", "POST", "/me/api-keys", key({ permissions: ["root"] }), 400],
      [
        "keys: 51 permissions",
        "POST",
        "/me/api-keys",
        key({ permissions: Array(51).fill("system:read") }),
        400,
      ],
      ["keys: expires in 0 days", "POST", "/me/api-keys", key({ expiresInDays: 0 }), 400],
      ["keys: expires in 3651 days", "POST", "/me/api-keys", key({ expiresInDays: 3651 }), 400],
      ["keys: expires in 1.5 days", "POST", "/me/api-keys", key({ expiresInDays: 1.5 }), 400],
      ["keys: expires a string", "POST", "/me/api-keys", key({ expiresInDays: "7" }), 400],
      ["keys: blank name", "POST", "/me/api-keys", key({ name: "  " }), 400],
      ["keys: name over 64", "POST", "/me/api-keys", key({ name: long(65) }), 400],
      ["keys: unknown field secret", "POST", "/me/api-keys", key({ secret: "nxk_mine" }), 400],
      ["my key: revoke unknown", "DELETE", "/me/api-keys/nope", undefined, 404],
      ["any key: revoke unknown", "DELETE", "/api-keys/nope", undefined, 404],
      ["any key: id with a dot", "DELETE", "/api-keys/a.b", undefined, 400],
      ["mfa: 5-digit code", "POST", "/me/mfa/confirm", { code: "12345" }, 400],
      ["mfa: letters", "POST", "/me/mfa/confirm", { code: "abcdef" }, 400],
      ["mfa: code a number", "POST", "/me/mfa/confirm", { code: 123456 }, 400],
      [
        "mfa: confirm before enrolling",
        "POST",
        "/me/mfa/confirm",
        { code: "123456" },
        409,
        "start enrolment first",
      ],
      ["mfa: disable, unknown field", "POST", "/me/mfa/disable", { password: "x", force: true }, 400],
      ["password: missing current", "POST", "/me/password", { newPassword: "x" }, 400],
      [
        "password: new over 256",
        "POST",
        "/me/password",
        { currentPassword: "x", newPassword: long(257) },
        400,
      ],
      [
        "password: unknown field",
        "POST",
        "/me/password",
        { currentPassword: "x", newPassword: "y", user: "z" },
        400,
      ],
      ["sessions: end unknown", "DELETE", `/me/sessions/${NIL}`, undefined, 404],
      ["audit: outcome maybe", "GET", "/audit?outcome=maybe", undefined, 400],
      ["audit: since not a date", "GET", "/audit?since=yesterday", undefined, 400],
      ["audit: since February 30", "GET", "/audit?since=2026-02-30T00:00:00Z", undefined, 400],
      [
        "audit: since SQL injection",
        "GET",
        `/audit?since=${encodeURIComponent("2026-01-01' OR 1=1 --")}`,
        undefined,
        400,
      ],
      ["audit: limit 1001", "GET", "/audit?limit=1001", undefined, 400],
      ["audit: limit 0", "GET", "/audit?limit=0", undefined, 400],
      ["audit: before 0", "GET", "/audit?before=0", undefined, 400],
      ["audit: actor over 64", "GET", `/audit?actor=${long(65)}`, undefined, 400],
      ["no such route", "GET", "/nope", undefined, 404, "no such route"],
      ["login with the wrong method", "PUT", "/login", { username: "admin", password: "x" }, 404],
    ];

    it.each(CASES)("%s", async (_name, method, path, body, status, message) => {
      const r = await call(box, method, path, { as: bearer(admin), body });
      expectError(r, status, message);
      if (status === 400 && r.body.message === "invalid request") {
        expect(Array.isArray(r.body.data.issues)).toBe(true);
        expect(r.body.data.issues.length).toBeGreaterThan(0);
      }
    });

    it("without a JSON content type → 415, not parsed", async () => {
      const res = await fetch(`${box.url}/api/identity/login`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({ username: "admin", password: admin.password }),
      });
      expect(res.status).toBe(415);
      expectErrorShape(await res.json(), 415);
    });

    it("none of it created anything", async () => {
      const users = await call(box, "GET", "/users", { as: bearer(admin) });
      expect(users.body.users.map((u: Body) => u.username)).toEqual(["admin"]);
      const roles = await call(box, "GET", "/roles", { as: bearer(admin) });
      expect(roles.body.roles.map((r: Body) => r.name).sort()).toEqual([
        "admin",
        "field-agent",
        "operator",
        "viewer",
      ]);
      expect((await call(box, "GET", "/teams", { as: bearer(admin) })).body).toEqual({ teams: [] });
      expect((await call(box, "GET", "/api-keys", { as: bearer(admin) })).body).toEqual({ keys: [] });
      const tables = box.db().prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
        name: string;
      }[];
      expect(tables.map((t) => t.name)).toEqual(
        expect.arrayContaining(["users", "roles", "audit", "sessions"]),
      );
    });

    const HOSTILE_SEARCH = [
      "%",
      "_",
      "\\",
      "' OR '1'='1",
      "admin' --",
      '"; DROP TABLE users; --',
      "*",
      "a%' OR 1=1 --",
    ];
    it.each(HOSTILE_SEARCH)("user search %j matches literally (no wildcard, no injection)", async (q) => {
      const r = await call(box, "GET", `/users?search=${encodeURIComponent(q)}`, { as: bearer(admin) });
      expect(r.status).toBe(200);
      expect(r.body.users).toEqual([]);
    });
  });
});
