/**
 * The first boot of the identity service: the one-time setup token that creates the first admin.
 *
 * Part of the identity service's end-to-end tests, against real appliances (supervisor, nats-server, identity +
 * system processes, the gateway); the harness is test/helpers/identity.ts. States that would take minutes to
 * reach on the clock are set directly in identity.db. Every secret the tests handle is recorded, and the file's
 * afterAll checks that none reached a log.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashSecret } from "../../services/identity/totp.js";
import {
  auditEntries,
  type Body,
  type Box,
  bearer,
  call,
  expectError,
  expectErrorShape,
  finishIdentityFile,
  LOCALHOST,
  loginOk,
  pw,
  Raw,
  setupTokenOf,
  startIdentity,
} from "../helpers/identity.js";

afterAll(finishIdentityFile);

describe("first boot: the one-time setup token", () => {
  let box: Box;
  let token: string;
  beforeAll(async () => {
    box = await startIdentity();
  });
  afterAll(async () => {
    await box?.stop();
  });

  it("GET /setup says setup is needed; firstLogin() gives a one-time link on the gateway", async () => {
    const first = await box.app.firstLogin();
    token = setupTokenOf(first);
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect((first as { url: string }).url.startsWith(`${box.url}/setup?token=`)).toBe(true);
    const expires = Date.parse((first as { expiresAt: string }).expiresAt);
    expect(expires - Date.now()).toBeGreaterThan(23 * 3600_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
    const r = await call(box, "GET", "/setup");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ needed: true });
    const page = await fetch(`${box.url}/setup?token=${token}`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).not.toContain(token);
    // Only the hash is stored.
    const rows = box.db().prepare("SELECT hash FROM setup_tokens").all() as { hash: string }[];
    expect(rows).toEqual([{ hash: hashSecret(token) }]);
  });

  const long = (n: number) => "x".repeat(n);
  const BAD_SETUP: [name: string, body: (token: string) => unknown, status: number, message?: string][] = [
    ["malformed JSON", () => new Raw('{"token":'), 400, "Malformed JSON"],
    ["empty body", () => new Raw(""), 400],
    ["JSON array", () => [], 400],
    ["JSON null", () => new Raw("null"), 400],
    ["JSON string", () => "setup", 400],
    ["unknown field (roles)", (t) => ({ token: t, username: "root", password: pw(), roles: ["admin"] }), 400],
    ["unknown field (isAdmin)", (t) => ({ token: t, username: "root", password: pw(), isAdmin: true }), 400],
    ["token a number", () => ({ token: 12345, username: "root", password: pw() }), 400],
    ["username a number", (t) => ({ token: t, username: 42, password: pw() }), 400],
    ["password an array", (t) => ({ token: t, username: "root", password: [pw()] }), 400],
    ["missing password", (t) => ({ token: t, username: "root" }), 400],
    ["missing token", () => ({ username: "root", password: pw() }), 400],
    ["empty token", () => ({ token: "", username: "root", password: pw() }), 400],
    ["token over 128 characters", () => ({ token: long(129), username: "root", password: pw() }), 400],
    ["username of one character", (t) => ({ token: t, username: "r", password: pw() }), 400],
    ["username over 64 characters", (t) => ({ token: t, username: long(65), password: pw() }), 400],
    ["username SQL injection", (t) => ({ token: t, username: "admin' OR '1'='1", password: pw() }), 400],
    ["username path traversal", (t) => ({ token: t, username: "../../etc/passwd", password: pw() }), 400],
    ["username HTML", (t) => ({ token: t, username: "<script>x</script>", password: pw() }), 400],
    ["username with NUL", (t) => ({ token: t, username: "adm\u0000in", password: pw() }), 400],
    ["username with a space", (t) => ({ token: t, username: "ad min", password: pw() }), 400],
    ["empty password", (t) => ({ token: t, username: "root", password: "" }), 400],
    ["password over 256", (t) => ({ token: t, username: "root", password: `Aa1-${long(253)}` }), 400],
    [
      "display name over 128",
      (t) => ({ token: t, username: "root", password: pw(), displayName: long(129) }),
      400,
    ],
    ["blank display name", (t) => ({ token: t, username: "root", password: pw(), displayName: "   " }), 400],
    [
      "password under the policy minimum",
      (t) => ({ token: t, username: "root", password: "Short-1" }),
      400,
      "at least 10",
    ],
    [
      "password containing the username",
      (t) => ({ token: t, username: "rootuser", password: "my-ROOTUSER-pw-123" }),
      400,
      "must not contain the username",
    ],
    [
      "password of one repeated character",
      (t) => ({ token: t, username: "root", password: "zzzzzzzzzzzz" }),
      400,
      "repeated",
    ],
  ];

  it.each(BAD_SETUP)(
    "bad setup body: %s → refused, the token survives",
    async (_name, body, status, message) => {
      const r = await call(box, "POST", "/setup", { body: body(token) });
      expectError(r, status, message);
      if (status === 400 && !message) expect(r.body.message).toMatch(/invalid request|Malformed JSON/);
      const row = box.db().prepare("SELECT used_at FROM setup_tokens WHERE hash = ?").get(hashSecret(token));
      expect(row).toEqual({ used_at: null });
      expect((await call(box, "GET", "/setup")).body).toEqual({ needed: true });
    },
  );

  const flip = (t: string, i: number) => t.slice(0, i) + (t[i] === "A" ? "B" : "A") + t.slice(i + 1);
  const WRONG: [name: string, make: (t: string) => string][] = [
    ["random token", () => randomBytes(24).toString("base64url")],
    ["first character changed", (t) => flip(t, 0)],
    ["last character changed", (t) => flip(t, t.length - 1)],
    ["one character short", (t) => t.slice(0, -1)],
    ["one character long", (t) => `${t}A`],
    ["upper-cased", (t) => t.toUpperCase()],
    ["the token's hash", (t) => hashSecret(t)],
    ["SQL wildcard", () => "%"],
    ["SQL injection", () => "' OR '1'='1"],
  ];
  it.each(WRONG)("wrong setup token (%s) → 401", async (_name, make) => {
    const r = await call(box, "POST", "/setup", {
      body: { token: make(token), username: "mallory", password: pw() },
    });
    expectError(r, 401, "invalid or expired setup token");
    expect((await call(box, "GET", "/setup")).body).toEqual({ needed: true });
  });

  it("an expired token → 401 (its expiry moved into the past in identity.db)", async () => {
    box
      .db()
      .prepare("UPDATE setup_tokens SET expires_at = ? WHERE hash = ?")
      .run(Date.now() - 1000, hashSecret(token));
    const r = await call(box, "POST", "/setup", { body: { token, username: "latecomer", password: pw() } });
    expectError(r, 401, "invalid or expired setup token");
  });

  it("a token already claimed → 401", async () => {
    token = setupTokenOf(await box.app.firstLogin());
    box.db().prepare("UPDATE setup_tokens SET used_at = ? WHERE hash = ?").run(Date.now(), hashSecret(token));
    const r = await call(box, "POST", "/setup", { body: { token, username: "second", password: pw() } });
    expectError(r, 401, "invalid or expired setup token");
  });

  it("an earlier token stops working once a new one is issued", async () => {
    const older = setupTokenOf(await box.app.firstLogin());
    token = setupTokenOf(await box.app.firstLogin());
    expect(token).not.toBe(older);
    const r = await call(box, "POST", "/setup", {
      body: { token: older, username: "older", password: pw() },
    });
    expectError(r, 401, "invalid or expired setup token");
  });

  let adminName = "";
  let adminPassword = "";
  it("two (six) concurrent setups with the same token: exactly one 201, exactly one admin", async () => {
    const tries = Array.from({ length: 6 }, (_, i) => ({ username: `first-admin-${i}`, password: pw() }));
    const results = await Promise.all(
      tries.map((t) => call(box, "POST", "/setup", { body: { token, ...t } })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    // The losers lost the token (401), or arrived after the admin existed (409).
    for (const r of results.filter((x) => x.status !== 201)) {
      expect([401, 409]).toContain(r.status);
      expectErrorShape(r.body, r.status);
    }
    const winner = results.find((r) => r.status === 201)!;
    expect(winner.body).toMatchObject({ roles: ["admin"], status: "active", mfaEnabled: false });
    expect(winner.text).not.toMatch(/scrypt|password_hash|"password"/i);
    adminName = winner.body.username;
    adminPassword = tries.find((t) => t.username === adminName)!.password;
    const admin = await loginOk(box, adminName, adminPassword);
    const users = await call(box, "GET", "/users", { as: bearer(admin) });
    expect(users.body.users.map((u: Body) => u.username)).toEqual([adminName]);
  });

  it("after setup: GET /setup is false, POST /setup → 409 with any token, firstLogin() is `accounts`", async () => {
    expect((await call(box, "GET", "/setup")).body).toEqual({ needed: false });
    for (const t of [token, randomBytes(24).toString("base64url")]) {
      const r = await call(box, "POST", "/setup", { body: { token: t, username: "again", password: pw() } });
      expectError(r, 409, "setup is already complete");
    }
    expect(await box.app.firstLogin()).toEqual({ kind: "accounts" });
    expect((await call(box, "GET", "/setup")).body).toEqual({ needed: false });
  });

  it("the audit log has the setup and every refused attempt, with the caller's address", async () => {
    const admin = await loginOk(box, adminName, adminPassword);
    const entries = await auditEntries(box, bearer(admin), "&action=setup");
    const ok = entries.filter((e) => e.outcome === "success");
    expect(ok).toHaveLength(1);
    expect(ok[0]).toMatchObject({ actor: adminName, action: "setup" });
    expect(ok[0].ip).toMatch(LOCALHOST);
    const failed = entries.filter((e) => e.outcome === "failure");
    expect(failed.length).toBeGreaterThanOrEqual(WRONG.length + 3);
    for (const e of failed) expect(e.details).toEqual({ reason: "token" });
  });
});
