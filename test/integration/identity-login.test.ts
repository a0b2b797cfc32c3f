/**
 * Login through the gateway: the generic answer to bad credentials, hostile usernames, the lockout
 * (threshold, doubling, admin unlock) and the per-IP throttle, also against a parallel burst.
 *
 * Part of the identity service's end-to-end tests, against real appliances (supervisor, nats-server, identity +
 * system processes, the gateway); the harness is test/helpers/identity.ts. States that would take minutes to
 * reach on the clock are set directly in identity.db. Every secret the tests handle is recorded, and the file's
 * afterAll checks that none reached a log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentStep, totpAt } from "../../services/identity/totp.js";
import { waitFor } from "../helpers/appliance.js";
import {
  addUser,
  auditEntries,
  type Box,
  bearer,
  call,
  expectError,
  finishIdentityFile,
  INVALID_LOGIN,
  LOCALHOST,
  login,
  loginOk,
  ONE_APPLIANCE,
  ONE_APPLIANCE_ENV,
  type Session,
  secret,
  sessionFrom,
  setupAdmin,
  startIdentity,
  type UserInfo,
  wrongCode,
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

  describe("login", () => {
    let user: UserInfo;
    beforeAll(async () => {
      user = await addUser(box, admin, "login-user", ["viewer"]);
    });

    it("answers a bearer token, a CSRF token and the user; never a hash", async () => {
      const r = await login(box, user.username, user.password);
      const s = sessionFrom(r, user.username, user.password);
      expect(Object.keys(r.body).sort()).toEqual(["csrfToken", "expiresIn", "token", "user"]);
      expect(r.body.expiresIn).toBe(3600);
      expect(r.body.user).toMatchObject({
        id: user.id,
        username: user.username,
        roles: ["viewer"],
        mfaEnabled: false,
      });
      expect(r.text).not.toMatch(/scrypt|password_hash|totp_secret/);
      expect(s.token.split(".")).toHaveLength(3);
      const me = await call(box, "GET", "/me", { as: bearer(s) });
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({
        id: user.id,
        via: "token",
        permissions: ["ai:read", "files:read", "forms:read", "media:read", "system:read"],
      });
    });

    it("wrong password and unknown user get the same 401, word for word", async () => {
      const wrong = await login(box, user.username, "not-the-password");
      const unknown = await login(box, "nobody-here", "not-the-password");
      expectError(wrong, 401, INVALID_LOGIN);
      expect(unknown.status).toBe(401);
      expect(unknown.body).toEqual(wrong.body);
      expect(wrong.headers.getSetCookie()).toEqual([]);
    });

    const INJECTIONS = [
      "admin' --",
      "admin' OR '1'='1",
      '" OR ""="',
      "%",
      "_",
      "admin%",
      "*",
      "admin\u0000",
      "login-user ",
      " login-user",
      "login-user\n",
    ];
    it.each(INJECTIONS)("username %j → the generic 401", async (username) => {
      const r = await login(box, username, user.password);
      expectError(r, 401, INVALID_LOGIN);
    });

    it("a spoofed x-forwarded-for does not change the address on record", async () => {
      const r = await call(box, "POST", "/login", {
        body: { username: user.username, password: "spoofed-and-wrong" },
        headers: { "x-forwarded-for": "203.0.113.9", "x-real-ip": "203.0.113.9" },
      });
      expect(r.status).toBe(401);
      const [e] = await auditEntries(box, bearer(admin), `&actor=${user.username}&outcome=failure`);
      expect(e.ip).toMatch(LOCALHOST);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("lockout (threshold 3, 2 s doubling to 4 s, secure cookies)", () => {
  let box: Box;
  let admin: Session;
  beforeAll(async () => {
    box = await startIdentity({
      NEXUS_IDENTITY_LOCKOUT_THRESHOLD: "3",
      NEXUS_IDENTITY_LOCKOUT_BASE_SEC: "2",
      NEXUS_IDENTITY_LOCKOUT_MAX_SEC: "4",
      NEXUS_IDENTITY_IP_MAX_FAILURES: "100000",
      NEXUS_IDENTITY_SECURE_COOKIES: "true",
    });
    admin = await setupAdmin(box, "admin");
  });
  afterAll(async () => {
    await box?.stop();
  });

  const lockRow = (box: Box, id: string) =>
    box.db().prepare("SELECT failed_logins, lockouts, locked_until FROM users WHERE id = ?").get(id) as {
      failed_logins: number;
      lockouts: number;
      locked_until: number | null;
    };

  it("cookies are marked Secure when configured", () => {
    for (const c of admin.setCookies) expect(c).toMatch(/; Secure$/);
  });

  it("brute force locks the account (401, as for an unknown user) even for the right password; the lock expires by itself", async () => {
    const u = await addUser(box, admin, "brute-user", ["viewer"]);
    for (let i = 0; i < 3; i++) expectError(await login(box, u.username, `wrong-${i}`), 401, INVALID_LOGIN);
    // First, while the 2 s lock surely holds: the right password is refused.
    const locked = await login(box, u.username, u.password);
    expectError(locked, 401, INVALID_LOGIN);
    expect(locked.headers.getSetCookie()).toEqual([]);
    const row = lockRow(box, u.id);
    expect(row.lockouts).toBe(1);
    expect(row.locked_until).not.toBeNull();
    const [lock] = await auditEntries(box, bearer(admin), "&action=account.locked");
    expect(lock).toMatchObject({ actor: u.username, target: u.id, details: { seconds: 2 } });
    expect(lock.ip).toMatch(LOCALHOST);
    const reasons = (await auditEntries(box, bearer(admin), `&actor=${u.username}&outcome=failure`)).map(
      (e) => e.details.reason,
    );
    expect(reasons).toEqual(expect.arrayContaining(["locked", "password"]));

    await waitFor(
      async () => (await login(box, u.username, u.password)).status === 200,
      15_000,
      "lock to expire",
    );
    expect(lockRow(box, u.id)).toEqual({ failed_logins: 0, lockouts: 0, locked_until: null });
  });

  it("each further lock doubles, up to the maximum; failures during a lock do not count", async () => {
    const u = await addUser(box, admin, "double-user", ["viewer"]);
    for (let i = 0; i < 3; i++) await login(box, u.username, `wrong-${i}`);
    expect(lockRow(box, u.id).lockouts).toBe(1);
    // Wrong guesses while locked do not count; the first one after the lock does again.
    await waitFor(() => lockRow(box, u.id).locked_until! <= Date.now(), 15_000, "first lock to expire");
    expectError(await login(box, u.username, "wrong-again"), 401, INVALID_LOGIN);
    for (let i = 0; i < 2; i++) await login(box, u.username, `wrong-more-${i}`);
    expect(lockRow(box, u.id).lockouts).toBe(2);
    expectError(await login(box, u.username, u.password), 401, INVALID_LOGIN);
    expectError(await login(box, u.username, "still-wrong"), 401, INVALID_LOGIN);
    expect(lockRow(box, u.id)).toMatchObject({ failed_logins: 0, lockouts: 2 });
    const locks = await auditEntries(box, bearer(admin), `&action=account.locked&target=${u.id}`);
    expect(locks.map((e) => e.details.seconds)).toEqual([4, 2]);
  });

  it("an admin lifts a lock at once (an hour-long lock, set in identity.db)", async () => {
    const u = await addUser(box, admin, "unlock-user", ["viewer"]);
    for (let i = 0; i < 3; i++) await login(box, u.username, `wrong-${i}`);
    box
      .db()
      .prepare("UPDATE users SET locked_until = ? WHERE id = ?")
      .run(Date.now() + 3600_000, u.id);
    const locked = await login(box, u.username, u.password);
    expectError(locked, 401, INVALID_LOGIN);
    const before = await call(box, "GET", `/users/${u.id}`, { as: bearer(admin) });
    expect(Date.parse(before.body.lockedUntil) - Date.now()).toBeGreaterThan(3500_000);
    const r = await call(box, "POST", `/users/${u.id}/unlock`, { as: bearer(admin) });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ unlocked: true });
    expect((await call(box, "GET", `/users/${u.id}`, { as: bearer(admin) })).body.lockedUntil).toBeNull();
    await loginOk(box, u.username, u.password);
    const [e] = await auditEntries(box, bearer(admin), `&action=account.unlocked&target=${u.id}`);
    expect(e.actor).toBe("admin");
  });

  it("parallel wrong passwords still lock the account (no race past the count)", async () => {
    const u = await addUser(box, admin, "burst-user", ["viewer"]);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => login(box, u.username, `burst-${i}`)),
    );
    for (const r of results) expect([401, 423]).toContain(r.status);
    const row = lockRow(box, u.id);
    expect(row.lockouts).toBeGreaterThanOrEqual(1);
    expect(row.locked_until).not.toBeNull();
    const locks = await auditEntries(box, bearer(admin), `&action=account.locked&target=${u.id}`);
    expect(locks.length).toBeGreaterThanOrEqual(1);
  });

  it("a wrong TOTP code counts as a failed login", async () => {
    const u = await addUser(box, admin, "totp-brute", ["viewer"]);
    const s = await loginOk(box, u.username, u.password);
    const totpSecret = secret(
      "totp secret",
      (await call(box, "POST", "/me/mfa/enroll", { as: bearer(s) })).body.secret,
    );
    expect(
      (
        await call(box, "POST", "/me/mfa/confirm", {
          as: bearer(s),
          body: { code: totpAt(totpSecret, currentStep()) },
        })
      ).status,
    ).toBe(200);
    for (let i = 0; i < 3; i++)
      expectError(await login(box, u.username, u.password, { totp: wrongCode(totpSecret) }), 401);
    expectError(
      await login(box, u.username, u.password, { totp: totpAt(totpSecret, currentStep() + 1) }),
      401,
      INVALID_LOGIN,
    );
  });
});

describe("per-IP throttle (5 failures)", () => {
  let box: Box;
  let admin: Session;
  beforeAll(async () => {
    box = await startIdentity({
      NEXUS_IDENTITY_IP_MAX_FAILURES: "5",
      NEXUS_IDENTITY_LOCKOUT_THRESHOLD: "100",
    });
    admin = await setupAdmin(box, "admin");
  });
  afterAll(async () => {
    await box?.stop();
  });

  it("failures across accounts from one address → 429, for the right password too", async () => {
    const u = await addUser(box, admin, "ip-user", ["viewer"]);
    const tries = [
      ["nobody-1", "x-wrong-1"],
      ["ip-user", "x-wrong-2"],
      ["nobody-2", "x-wrong-3"],
      ["admin", "x-wrong-4"],
      ["ip-user", "x-wrong-5"],
    ];
    for (const [name, password] of tries) expectError(await login(box, name!, password!), 401, INVALID_LOGIN);
    for (const [name, password] of [
      ["ip-user", u.password],
      ["admin", admin.password],
      ["nobody-3", "x"],
    ]) {
      expectError(await login(box, name!, password!), 429, "too many failed logins from this address");
    }
    const spoofed = await call(box, "POST", "/login", {
      body: { username: u.username, password: u.password },
      headers: { "x-forwarded-for": "198.51.100.7" },
    });
    expectError(spoofed, 429);
    // Only logins are throttled; a signed-in user carries on.
    expect((await call(box, "GET", "/me", { as: bearer(admin) })).status).toBe(200);
    const throttled = await auditEntries(box, bearer(admin), "&action=login&outcome=failure");
    expect(throttled.filter((e) => e.details.reason === "ip-throttled").length).toBe(4);
  });
});

describe("per-IP throttle against a parallel burst", () => {
  let box: Box;
  beforeAll(async () => {
    box = await startIdentity({
      NEXUS_IDENTITY_IP_MAX_FAILURES: "5",
      NEXUS_IDENTITY_LOCKOUT_THRESHOLD: "100",
    });
    await setupAdmin(box, "admin");
  });
  afterAll(async () => {
    await box?.stop();
  });

  it("20 guesses at once: at most 5 are answered as wrong passwords, the rest 429", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => login(box, i % 2 ? "admin" : `nobody-${i}`, `guess-${i}`)),
    );
    const statuses = results.map((r) => r.status);
    for (const s of statuses) expect([401, 429]).toContain(s);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(15);
    const row = box.db().prepare("SELECT count FROM ip_failures").all() as { count: number }[];
    expect(row).toHaveLength(1);
    expect(row[0]!.count).toBeLessThanOrEqual(5);
  });
});
