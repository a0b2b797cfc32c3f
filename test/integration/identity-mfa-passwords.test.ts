/**
 * MFA (TOTP enrolment, login with a code, recovery codes) and passwords (policy, change, reset).
 *
 * Part of the identity service's end-to-end tests, against real appliances (supervisor, nats-server, identity +
 * system processes, the gateway); the harness is test/helpers/identity.ts. States that would take minutes to
 * reach on the clock are set directly in identity.db. Every secret the tests handle is recorded, and the file's
 * afterAll checks that none reached a log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentStep, hashSecret, totpAt } from "../../services/identity/totp.js";
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
  pw,
  REVOKE_MS,
  type Session,
  secret,
  sessionFrom,
  setupAdmin,
  startIdentity,
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

  describe("MFA (TOTP)", () => {
    it("enrol → confirm → login needs a code; wrong and replayed codes refused; recovery codes work once", async () => {
      const u = await addUser(box, admin, "mfa-user", ["viewer"]);
      const s = await loginOk(box, u.username, u.password);
      const en = await call(box, "POST", "/me/mfa/enroll", { as: bearer(s) });
      expect(en.status).toBe(200);
      const totpSecret = secret("totp secret", en.body.secret);
      expect(totpSecret).toMatch(/^[A-Z2-7]{32}$/);
      expect(en.body.otpauthUri).toBe(
        `otpauth://totp/Nexus%20Edge%3Amfa-user?secret=${totpSecret}&issuer=Nexus%20Edge&algorithm=SHA1&digits=6&period=30`,
      );
      // Not active until confirmed.
      expect((await login(box, u.username, u.password)).status).toBe(200);
      expectError(
        await call(box, "POST", "/me/mfa/confirm", { as: bearer(s), body: { code: wrongCode(totpSecret) } }),
        400,
        "does not match",
      );

      const step = currentStep();
      const conf = await call(box, "POST", "/me/mfa/confirm", {
        as: bearer(s),
        body: { code: totpAt(totpSecret, step) },
      });
      expect(conf.status).toBe(200);
      const codes: string[] = conf.body.recoveryCodes;
      expect(codes).toHaveLength(10);
      for (const c of codes) {
        expect(c).toMatch(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/);
        secret("recovery code", c);
      }
      expect(new Set(codes).size).toBe(10);
      expect((await call(box, "GET", "/me", { as: bearer(s) })).body.mfaEnabled).toBe(true);
      expectError(await call(box, "POST", "/me/mfa/enroll", { as: bearer(s) }), 409, "already enabled");
      // Secret and codes are not readable back.
      expect((await call(box, "GET", "/me", { as: bearer(s) })).text).not.toContain(totpSecret);
      const stored = box.db().prepare("SELECT code_hash FROM recovery_codes").all() as {
        code_hash: string;
      }[];
      for (const c of codes) expect(stored).toContainEqual({ code_hash: hashSecret(c) });

      const need = await login(box, u.username, u.password);
      expectError(need, 401, "a one-time code is required");
      expect(need.body.data).toEqual({ mfaRequired: true });
      expect(need.headers.getSetCookie()).toEqual([]);
      const wrong = await login(box, u.username, u.password, { totp: wrongCode(totpSecret) });
      expectError(wrong, 401, "invalid one-time code");
      expect(wrong.body.data).toEqual({ mfaRequired: true });
      // The code used to confirm is spent.
      expectError(
        await login(box, u.username, u.password, { totp: totpAt(totpSecret, step) }),
        401,
        "invalid one-time code",
      );
      // A wrong password with a right code says nothing about the code.
      expectError(
        await login(box, u.username, "wrong-password", { totp: totpAt(totpSecret, step + 1) }),
        401,
        INVALID_LOGIN,
      );

      const next = totpAt(totpSecret, step + 1);
      const ok = await loginOk(box, u.username, u.password, next);
      expect(ok.body.user.mfaEnabled).toBe(true);
      expectError(await login(box, u.username, u.password, { totp: next }), 401, "invalid one-time code");
      // Older steps are spent too.
      expectError(await login(box, u.username, u.password, { totp: totpAt(totpSecret, step) }), 401);

      const [first, second] = codes as [string, string];
      await loginOk(box, u.username, u.password, first);
      expectError(await login(box, u.username, u.password, { totp: first }), 401, "invalid one-time code");
      expectError(await login(box, u.username, u.password, { totp: second.toUpperCase() }), 401);
      await loginOk(box, u.username, u.password, second);
      const used = box
        .db()
        .prepare("SELECT count(*) AS n FROM recovery_codes WHERE used_at IS NOT NULL")
        .get();
      expect(used).toEqual({ n: 2 });

      const audit = await auditEntries(box, bearer(admin), `&actor=${u.username}&action=login`);
      expect(
        audit.filter((e) => e.outcome === "success" && e.details.mfa === true).length,
      ).toBeGreaterThanOrEqual(3);

      expectError(
        await call(box, "POST", "/me/mfa/disable", { as: bearer(ok), body: { password: "wrong" } }),
        403,
      );
      const off = await call(box, "POST", "/me/mfa/disable", {
        as: bearer(ok),
        body: { password: u.password },
      });
      expect(off.status).toBe(200);
      expect(off.body).toEqual({ mfaEnabled: false });
      expect((await login(box, u.username, u.password)).status).toBe(200);
      expect(box.db().prepare("SELECT count(*) AS n FROM recovery_codes").get()).toEqual({ n: 0 });
      const [e] = await auditEntries(box, bearer(admin), `&actor=${u.username}&action=mfa.disabled`);
      expect(e.ip).toMatch(LOCALHOST);
    });

    it("one code, several logins at once: exactly one gets in", async () => {
      const u = await addUser(box, admin, "mfa-race", ["viewer"]);
      const s = await loginOk(box, u.username, u.password);
      const en = await call(box, "POST", "/me/mfa/enroll", { as: bearer(s) });
      const totpSecret = secret("totp secret", en.body.secret);
      const step = currentStep();
      expect(
        (
          await call(box, "POST", "/me/mfa/confirm", {
            as: bearer(s),
            body: { code: totpAt(totpSecret, step) },
          })
        ).status,
      ).toBe(200);
      const code = totpAt(totpSecret, step + 1);
      const results = await Promise.all(
        Array.from({ length: 5 }, () => login(box, u.username, u.password, { totp: code })),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 401, 401, 401, 401]);
      for (const r of results) if (r.status === 200) sessionFrom(r, u.username, u.password);
    });
  });

  describe("passwords", () => {
    it("changing needs the current password, keeps this session and ends the others", async () => {
      const u = await addUser(box, admin, "pw-user", ["viewer"]);
      const here = await loginOk(box, u.username, u.password);
      const elsewhere = await loginOk(box, u.username, u.password);
      const newPassword = pw();
      expectError(
        await call(box, "POST", "/me/password", {
          as: bearer(here),
          body: { currentPassword: "not-it-at-all", newPassword },
        }),
        403,
        "current password is wrong",
      );
      expectError(
        await call(box, "POST", "/me/password", {
          as: bearer(here),
          body: { currentPassword: u.password, newPassword: "Short-1" },
        }),
        400,
        "at least 10",
      );
      expectError(
        await call(box, "POST", "/me/password", {
          as: bearer(here),
          body: { currentPassword: u.password, newPassword: "xx-PW-USER-xx-1" },
        }),
        400,
        "must not contain the username",
      );
      expect((await login(box, u.username, u.password)).status).toBe(200);

      const r = await call(box, "POST", "/me/password", {
        as: bearer(here),
        body: { currentPassword: u.password, newPassword },
      });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ changed: true });
      expectError(await login(box, u.username, u.password), 401, INVALID_LOGIN);
      await loginOk(box, u.username, newPassword);
      await waitFor(
        async () => (await call(box, "GET", "/me", { as: { cookie: elsewhere.cookie } })).status === 401,
        REVOKE_MS,
        "other session ended",
      );
      expectError(await call(box, "POST", "/token", { as: bearer(elsewhere) }), 401, "session ended");
      expect((await call(box, "GET", "/me", { as: { cookie: here.cookie } })).status).toBe(200);
      expect((await call(box, "POST", "/token", { as: bearer(here) })).status).toBe(200);
      const entries = await auditEntries(box, bearer(admin), `&action=password.change&target=${u.id}`);
      expect(entries.map((e) => e.outcome)).toEqual(["success", "failure"]);
    });

    it("admin reset: a temporary password, shown once; mustChangePassword; the user's sessions end", async () => {
      const u = await addUser(box, admin, "reset-user", ["viewer"]);
      const s = await loginOk(box, u.username, u.password);
      const r = await call(box, "POST", `/users/${u.id}/reset-password`, { as: bearer(admin), body: {} });
      expect(r.status).toBe(200);
      expect(Object.keys(r.body).sort()).toEqual(["mustChangePassword", "reset", "temporaryPassword"]);
      const temp = secret("temporary password", r.body.temporaryPassword);
      expect(temp).toMatch(/^[A-Za-z0-9_-]{20}$/);
      expect(r.body.mustChangePassword).toBe(true);
      await waitFor(
        async () => (await call(box, "GET", "/me", { as: { cookie: s.cookie } })).status === 401,
        REVOKE_MS,
        "sessions ended by reset",
      );
      expectError(await login(box, u.username, u.password), 401);
      const t = await loginOk(box, u.username, temp);
      expect(t.body.user.mustChangePassword).toBe(true);
      expect((await call(box, "GET", `/users/${u.id}`, { as: bearer(admin) })).body.mustChangePassword).toBe(
        true,
      );
      const mine = pw();
      expect(
        (
          await call(box, "POST", "/me/password", {
            as: bearer(t),
            body: { currentPassword: temp, newPassword: mine },
          })
        ).status,
      ).toBe(200);
      expect((await call(box, "GET", "/me", { as: bearer(t) })).body.mustChangePassword).toBe(false);
      await loginOk(box, u.username, mine);

      const given = pw();
      const r2 = await call(box, "POST", `/users/${u.id}/reset-password`, {
        as: bearer(admin),
        body: { password: given },
      });
      expect(r2.body).toEqual({ reset: true, mustChangePassword: true });
      await loginOk(box, u.username, given);
      expectError(
        await call(box, "POST", `/users/${u.id}/reset-password`, {
          as: bearer(admin),
          body: { password: "Short-1" },
        }),
        400,
      );
      const entries = await auditEntries(box, bearer(admin), `&action=password.reset&target=${u.id}`);
      expect(entries).toHaveLength(2);
      expect(entries[0]).toMatchObject({ actor: "admin" });
      expect(JSON.stringify(entries)).not.toContain(given);
    });
  });
});
