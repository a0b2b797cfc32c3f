/**
 * The audit log (content, filters, append-only, published as events), timing-safe comparisons (a
 * source check), and that no secret the tests used reached a log.
 *
 * Part of the identity service's end-to-end tests, against real appliances (supervisor, nats-server, identity +
 * system processes, the gateway); the harness is test/helpers/identity.ts. States that would take minutes to
 * reach on the clock are set directly in identity.db. Every secret the tests handle is recorded, and the file's
 * afterAll checks that none reached a log.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentStep, totpAt } from "../../services/identity/totp.js";
import { ROOT, waitFor } from "../helpers/appliance.js";
import {
  addRole,
  addUser,
  auditEntries,
  type Box,
  bearer,
  call,
  createKey,
  dataDirs,
  finishIdentityFile,
  LOCALHOST,
  login,
  loginOk,
  ONE_APPLIANCE,
  ONE_APPLIANCE_ENV,
  pw,
  type Res,
  SECRETS,
  type Session,
  SUPERVISOR_LOG,
  secret,
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

  describe("the audit log", () => {
    // In the single identity test file this block ran last on the shared appliance and read the history every
    // block before it had left. On its own appliance it first makes that history: one of each audited action,
    // and failed logins, some under hostile names (matched literally by the hostile-filter tests below).
    beforeAll(async () => {
      const admins = bearer(admin);
      const users: UserInfo[] = [];
      for (let i = 1; i <= 5; i++) users.push(await addUser(box, admin, `audit-user-${i}`, ["viewer"]));
      const [u1, u2, u3, u4, u5] = users as [UserInfo, UserInfo, UserInfo, UserInfo, UserInfo];
      const ok = (r: Res, status = 200) => expect(r.status, r.text.slice(0, 300)).toBe(status);
      ok(await call(box, "PATCH", `/users/${u1.id}`, { as: admins, body: { displayName: "Audit One" } }));
      ok(await call(box, "PATCH", `/users/${u2.id}`, { as: admins, body: { roles: ["operator"] } }));
      await addRole(box, admin, "audit-reader", ["system:read"]);
      ok(await call(box, "POST", "/teams", { as: admins, body: { name: "audit-team" } }), 201);
      ok(await call(box, "POST", "/signing-keys/rotate", { as: admins }));
      const reset = await call(box, "POST", `/users/${u1.id}/reset-password`, { as: admins, body: {} });
      ok(reset);
      secret("temporary password", reset.body.temporaryPassword);
      // Failed logins: a wrong password, unknown users, hostile names.
      expect((await login(box, u3.username, "wrong-password-1")).status).toBe(401);
      for (const name of ["nobody-here", "' OR '1'='1", "admin' --", "%", "*"])
        expect((await login(box, name, "wrong-password-2")).status).toBe(401);
      // A key created, used and revoked by its owner.
      const owner = await loginOk(box, u2.username, u2.password);
      const key = await createKey(box, bearer(owner), ["system:read"]);
      ok(await call(box, "GET", "/me", { as: { key: key.secret } }));
      ok(await call(box, "DELETE", `/me/api-keys/${key.id}`, { as: bearer(owner) }));
      // A password change with the wrong current password.
      const s3 = await loginOk(box, u3.username, u3.password);
      const change = await call(box, "POST", "/me/password", {
        as: bearer(s3),
        body: { currentPassword: pw(), newPassword: pw() },
      });
      expect(change.status).toBeGreaterThanOrEqual(400);
      // MFA enabled.
      const s4 = await loginOk(box, u4.username, u4.password);
      const enrol = await call(box, "POST", "/me/mfa/enroll", { as: bearer(s4) });
      ok(enrol);
      const totpSecret = secret("totp secret", enrol.body.secret);
      const confirm = await call(box, "POST", "/me/mfa/confirm", {
        as: bearer(s4),
        body: { code: totpAt(totpSecret, currentStep()) },
      });
      ok(confirm);
      for (const code of confirm.body.recoveryCodes) secret("recovery code", code);
      // Logout, and logout everywhere.
      const s5 = await loginOk(box, u5.username, u5.password);
      ok(await call(box, "POST", "/logout", { as: withCookie(s5) }));
      const s5b = await loginOk(box, u5.username, u5.password);
      ok(await call(box, "POST", "/logout-all", { as: bearer(s5b) }));
    });

    it("has logins (success and failure), role changes, key creation and use, admin actions: with actor and address", async () => {
      const all = await auditEntries(box, bearer(admin));
      const has = (action: string, outcome = "success") =>
        all.find((e) => e.action === action && e.outcome === outcome);
      for (const [action, outcome] of [
        ["setup", "success"],
        ["login", "success"],
        ["login", "failure"],
        ["user.created", "success"],
        ["user.updated", "success"],
        ["user.roles_changed", "success"],
        ["role.created", "success"],
        ["team.created", "success"],
        ["apikey.created", "success"],
        ["apikey.used", "success"],
        ["apikey.revoked", "success"],
        ["signing_key.rotated", "success"],
        ["password.reset", "success"],
        ["password.change", "failure"],
        ["mfa.enabled", "success"],
        ["logout", "success"],
        ["logout.all", "success"],
      ] as const) {
        const e = has(action, outcome);
        expect(e, `${action}/${outcome}`).toBeDefined();
        expect(e.actor, action).toBeTypeOf("string");
        expect(e.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        // The gateway does not tell identity the caller's address when it introspects a key.
        if (action !== "apikey.used") expect(e.ip, action).toMatch(LOCALHOST);
      }
      const failed = all.filter((e) => e.action === "login" && e.outcome === "failure");
      expect(failed.map((e) => e.details.reason)).toEqual(
        expect.arrayContaining(["password", "unknown-user"]),
      );
      const seqs = all.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    });

    it("holds no secret the tests used", async () => {
      const text = JSON.stringify(await auditEntries(box, bearer(admin)));
      for (const [value, kind] of SECRETS) expect(text.includes(value), kind).toBe(false);
    });

    it("filters: actor, action, outcome, target, since/until, before, limit", async () => {
      const as = bearer(admin);
      const byActor = await auditEntries(box, as, "&actor=admin");
      expect(byActor.length).toBeGreaterThan(5);
      for (const e of byActor) expect(e.actor).toBe("admin");
      const failures = await auditEntries(box, as, "&action=login&outcome=failure");
      expect(failures.length).toBeGreaterThan(3);
      for (const e of failures) expect(e).toMatchObject({ action: "login", outcome: "failure" });
      const three = await call(box, "GET", "/audit?limit=3", { as });
      expect(three.body.entries).toHaveLength(3);
      const all = await auditEntries(box, as);
      expect(three.body.entries).toEqual(all.slice(0, 3));
      const mid = all[Math.floor(all.length / 2)];
      const before = await auditEntries(box, as, `&before=${mid.seq}`);
      expect(before).toEqual(all.filter((e) => e.seq < mid.seq));
      const since = await auditEntries(box, as, `&since=${mid.at}`);
      expect(since).toEqual(all.filter((e) => e.at >= mid.at));
      const until = await auditEntries(box, as, `&until=${mid.at}`);
      expect(until).toEqual(all.filter((e) => e.at < mid.at));
      const target = await auditEntries(box, as, `&target=${admin.id}`);
      for (const e of target) expect(e.target).toBe(admin.id);
      expect(target.length).toBeGreaterThan(0);
    });

    it("since/until without milliseconds bound by the instant, not by text order", async () => {
      const as = bearer(admin);
      const all = await auditEntries(box, as);
      const e = all[0];
      const second = e.at.replace(/\.\d{3}Z$/, "Z");
      const since = await auditEntries(box, as, `&since=${second}`);
      expect(since.map((x) => x.seq)).toContain(e.seq);
      const until = await auditEntries(box, as, `&until=${second}`);
      expect(until.map((x) => x.seq)).not.toContain(e.seq);
      for (const x of until) expect(Date.parse(x.at)).toBeLessThan(Date.parse(second));
    });

    // Some of these were logged as actors by the login tests above: a filter must match them literally.
    const HOSTILE: [name: string, field: string, value: string][] = [
      ["actor SQL injection", "actor", "' OR '1'='1"],
      ["actor comment", "actor", "admin' --"],
      ["actor LIKE wildcard", "actor", "%"],
      ["actor star", "actor", "*"],
      ["action injection", "action", "login' OR 1=1 --"],
      ["action union", "action", "x' UNION SELECT * FROM users --"],
      ["target NUL", "target", "a\u0000b"],
      ["target semicolon", "target", "x; DELETE FROM audit"],
    ];
    it.each(HOSTILE)(
      "hostile filter (%s) → 200, literal matches only, nothing broken",
      async (_name, field, value) => {
        const db = box.db();
        const count = (db.prepare("SELECT count(*) AS n FROM audit").get() as { n: number }).n;
        const r = await call(box, "GET", `/audit?${field}=${encodeURIComponent(value)}`, {
          as: bearer(admin),
        });
        expect(r.status).toBe(200);
        const literal = db.prepare(`SELECT count(*) AS n FROM audit WHERE ${field} = ?`).get(value) as {
          n: number;
        };
        expect(r.body.entries).toHaveLength(literal.n);
        expect(r.body.entries.length).toBeLessThan(count);
        for (const e of r.body.entries) expect(e[field]).toBe(value);
        expect(
          (db.prepare("SELECT count(*) AS n FROM audit").get() as { n: number }).n,
        ).toBeGreaterThanOrEqual(count);
        expect((await call(box, "GET", "/users", { as: bearer(admin) })).body.users.length).toBeGreaterThan(
          5,
        );
      },
    );

    it("is append-only: UPDATE and DELETE on the table raise", () => {
      const db = box.db();
      const count = (db.prepare("SELECT count(*) AS n FROM audit").get() as { n: number }).n;
      expect(() =>
        db.prepare("UPDATE audit SET outcome = 'success' WHERE outcome = 'failure'").run(),
      ).toThrow(/append-only/);
      expect(() => db.prepare("UPDATE audit SET actor = 'nobody'").run()).toThrow(/append-only/);
      expect(() => db.prepare("DELETE FROM audit WHERE seq = 1").run()).toThrow(/append-only/);
      expect(() => db.prepare("DELETE FROM audit").run()).toThrow(/append-only/);
      expect((db.prepare("SELECT count(*) AS n FROM audit").get() as { n: number }).n).toBe(count);
    });

    it("every entry is published as nexus.identity.audit.<action> through the outbox", async () => {
      const db = box.db();
      const rows = db
        .prepare("SELECT subject, payload FROM _outbox WHERE subject LIKE 'nexus.identity.audit.%'")
        .all() as {
        subject: string;
        payload: string;
      }[];
      const subjects = new Set(rows.map((r) => r.subject));
      for (const s of [
        "login",
        "setup",
        "user.created",
        "user.roles_changed",
        "apikey.created",
        "signing_key.rotated",
        "password.reset",
      ]) {
        expect(subjects.has(`nexus.identity.audit.${s}`), s).toBe(true);
      }
      const audited = (db.prepare("SELECT count(*) AS n FROM audit").get() as { n: number }).n;
      expect(rows.length).toBe(audited);
      const ev = JSON.parse(rows.find((r) => r.subject === "nexus.identity.audit.login")!.payload);
      expect(ev).toMatchObject({
        specversion: "1.0",
        type: "nexus.identity.audit.login",
        source: "/nexus/local/identity",
      });
      expect(ev.data).toHaveProperty("actor");
      const payloads = rows.map((r) => r.payload).join("\n");
      for (const [value, kind] of SECRETS) expect(payloads.includes(value), kind).toBe(false);
      await waitFor(
        () =>
          (
            db
              .prepare(
                "SELECT count(*) AS n FROM _outbox WHERE published_at IS NULL AND subject LIKE 'nexus.identity.audit.%'",
              )
              .get() as { n: number }
          ).n === 0,
        20_000,
        "audit events published",
      );
    });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("timing-safe comparisons (source check)", () => {
  const src = (p: string) => readFileSync(join(ROOT, p), "utf8");

  it.each([
    ["services/identity/passwords.ts", /timingSafeEqual\(got, expected\)/],
    [
      "services/identity/totp.ts",
      /timingSafeEqual\(Buffer\.from\(totpAt\(secret, step\)\), Buffer\.from\(code\)\)/,
    ],
    ["appliance/gateway/identity-auth.ts", /timingSafeEqual\(x, y\)/],
    ["appliance/kit/app.ts", /timingSafeEqual\(given, expected\)/],
  ])("%s compares with crypto.timingSafeEqual", (file, pattern) => {
    const text = src(file);
    expect(text).toMatch(/import \{[^}]*\btimingSafeEqual\b[^}]*\} from "node:crypto"/);
    expect(text).toMatch(pattern);
  });

  it("the CSRF check goes through the constant-time helper", () => {
    expect(src("appliance/gateway/identity-auth.ts")).toMatch(
      /csrfOk: typeof sent === "string" && !!csrf && same\(sent, csrf\)/,
    );
  });

  it("session, API key, recovery code and setup token lookups go by SHA-256 hash, not by comparing secrets", () => {
    expect(src("services/identity/sessions.ts")).toMatch(
      /WHERE secret_hash = \?"\)\.get\(hashSecret\(secret\)\)/,
    );
    expect(src("services/identity/api-keys.ts")).toMatch(
      /secret_hash = \?"\)\s*\.get\(m\[1\], hashSecret\(secret\)\)/,
    );
    expect(src("services/identity/mfa.ts")).toMatch(/code_hash = \? AND used_at IS NULL/);
    expect(src("services/identity/setup.ts")).toMatch(/WHERE hash = \? AND used_at IS NULL/);
    for (const f of [
      "sessions.ts",
      "api-keys.ts",
      "mfa.ts",
      "setup.ts",
      "login.ts",
      "passwords.ts",
      "totp.ts",
    ]) {
      const text = src(`services/identity/${f}`);
      expect(text, f).not.toMatch(
        /(secret|csrf|token|code|hash)\w*\s*[!=]==\s*\w*(secret|csrf|token|code|hash)/i,
      );
    }
  });
});

describe("secrets never reach the logs", () => {
  function files(dir: string): string[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir).flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? files(p) : [p];
    });
  }

  it("no log of any appliance above, nor the supervisor log, holds a password, cookie, token, key, setup token or TOTP secret", () => {
    const logs = [...dataDirs.flatMap((d) => files(join(d, "logs"))), SUPERVISOR_LOG].filter((f) =>
      existsSync(f),
    );
    expect(logs.length).toBeGreaterThan(0);
    const leaks: string[] = [];
    for (const f of logs) {
      const text = readFileSync(f, "latin1");
      for (const [value, kind] of SECRETS)
        if (text.includes(value)) leaks.push(`${kind} (${value.slice(0, 6)}…) in ${f}`);
    }
    expect(leaks).toEqual([]);
  });
});
