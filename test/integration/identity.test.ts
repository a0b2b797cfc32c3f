/**
 * The identity service end to end, against real appliances (supervisor, nats-server, identity + system
 * processes, the gateway): first boot, login and lockout, access tokens, cookie sessions and CSRF, privilege
 * escalation, API keys, MFA, passwords and the audit log, with hostile input throughout. Some states that
 * would take minutes to reach on the clock (an expired setup token or key, an idle session, an hour-long
 * lock) are set directly in identity.db; one block waits on the real clock for token and idle expiry.
 * All traffic stays on 127.0.0.1. Every secret the tests handle is recorded; the last block checks that
 * none of them reached a log file.
 */
import { createHmac, createPublicKey, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Appliance } from "../../appliance/appliance.js";
import { generateSigningKey, signJwt, type TokenClaims } from "../../appliance/kit/jwt.js";
import { currentStep, hashSecret, totpAt } from "../../services/identity/totp.js";
import { ROOT, removeDir, startTestAppliance, type TestAppliance, waitFor } from "../helpers/appliance.js";

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field by the tests
type Body = any;

/** Where test/helpers' startTestAppliance sends the supervisor's log. */
const SUPERVISOR_LOG = join(os.tmpdir(), "nexus-test-supervisor.log");
const LOCALHOST = /^(::ffff:)?127\.0\.0\.1$/;
const INVALID_LOGIN = "invalid username or password";
const CSRF_MESSAGE = "missing or invalid CSRF token";
/** Revocation reaches the gateway within its 5 s introspection cache; allow for a loaded box. */
const REVOKE_MS = 12_000;

// ---------------------------------------------------------------------------------------------------------
// Harness

/** Every secret a test handles (value → what it is), checked against the logs at the end. */
const SECRETS = new Map<string, string>();
function secret(kind: string, value: string): string {
  if (value.length >= 8) SECRETS.set(value, kind);
  return value;
}
let pwCount = 0;
/** A fresh password that passes the policy. */
const pw = () => secret("password", `Pw${++pwCount}-${randomBytes(12).toString("base64url")}`);

const dataDirs: string[] = [];
afterAll(() => {
  for (const d of dataDirs) removeDir(d);
});

interface Box {
  app: TestAppliance;
  dataDir: string;
  url: string;
  /** identity.db, opened on first use (WAL: safe next to the running service). */
  db(): Database.Database;
  stop(): Promise<void>;
}

/**
 * An appliance running identity + system. The supervisor hands services the `NEXUS_<SERVICE>_*` variables
 * of its own process.env (supervisor.ts serviceEnv), not the env startTestAppliance loads the config from,
 * so identity settings go into process.env for as long as the box runs (blocks run one after another) and
 * stop() puts them back.
 */
async function startIdentity(env: Record<string, string> = {}): Promise<Box> {
  const saved = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(env)) {
    saved.set(k, process.env[k]);
    process.env[k] = v;
  }
  const restore = () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  let app: TestAppliance;
  try {
    app = await startTestAppliance({
      services: ["identity", "system"],
      env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000", ...env },
    });
  } catch (err) {
    restore();
    throw err;
  }
  dataDirs.push(app.dataDir);
  let db: Database.Database | null = null;
  return {
    app,
    dataDir: app.dataDir,
    url: app.url,
    db: () => {
      db ??= new Database(join(app.dataDir, "services", "identity", "identity.db"), { timeout: 10_000 });
      return db;
    },
    stop: async () => {
      db?.close();
      await app.stop();
      restore();
    },
  };
}

/** A request body sent exactly as given. */
class Raw {
  constructor(readonly text: string) {}
}

interface Creds {
  token?: string;
  cookie?: string;
  csrf?: string;
  key?: string;
  keyVia?: "x-api-key" | "bearer";
}

interface Res {
  status: number;
  body: Body;
  text: string;
  headers: Headers;
}

/** One request through the gateway; paths not under /api/ are identity's. */
async function call(
  box: Box,
  method: string,
  path: string,
  opts: { as?: Creds; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Res> {
  const h: Record<string, string> = {};
  const a = opts.as;
  if (a?.token) h.authorization = `Bearer ${a.token}`;
  if (a?.key && a.keyVia === "bearer") h.authorization = `Bearer ${a.key}`;
  else if (a?.key) h["x-api-key"] = a.key;
  if (a?.cookie) h.cookie = `nexus_session=${a.cookie}`;
  if (a?.csrf) h["x-csrf-token"] = a.csrf;
  let body: string | undefined;
  if (opts.body instanceof Raw) body = opts.body.text;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) h["content-type"] = "application/json";
  Object.assign(h, opts.headers);
  const url = `${box.url}${path.startsWith("/api/") ? path : `/api/identity${path}`}`;
  const res = await fetch(url, { method, headers: h, body });
  const text = await res.text();
  let parsed: Body = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

/** Asserts the one wire error shape `{ status, message, data }`. */
function expectErrorShape(body: unknown, status: number, message?: string): void {
  expect(body).toBeTypeOf("object");
  expect(Object.keys(body as object).sort()).toEqual(["data", "message", "status"]);
  const b = body as { status: number; message: string };
  expect(b.status).toBe(status);
  expect(b.message).toBeTypeOf("string");
  if (message !== undefined) expect(b.message).toContain(message);
}

function expectError(r: Res, status: number, message?: string): void {
  expect(r.status, r.text.slice(0, 300)).toBe(status);
  expectErrorShape(r.body, status, message);
}

interface Session {
  username: string;
  password: string;
  id: string;
  token: string;
  cookie: string;
  csrf: string;
  setCookies: string[];
  body: Body;
}

const bearer = (s: { token: string }): Creds => ({ token: s.token });
const withCookie = (s: { cookie: string; csrf: string }): Creds => ({ cookie: s.cookie, csrf: s.csrf });

function cookieValue(setCookies: string[], name: string): string | undefined {
  for (const c of setCookies) {
    const m = new RegExp(`^${name}=([^;]*)`).exec(c);
    if (m) return m[1];
  }
  return undefined;
}

function login(box: Box, username: string, password: string, extra: { totp?: string; cookie?: string } = {}) {
  return call(box, "POST", "/login", {
    body: { username, password, ...(extra.totp !== undefined ? { totp: extra.totp } : {}) },
    headers: extra.cookie ? { cookie: extra.cookie } : {},
  });
}

function sessionFrom(r: Res, username: string, password: string): Session {
  expect(r.status, r.text.slice(0, 300)).toBe(200);
  const setCookies = r.headers.getSetCookie();
  const cookie = cookieValue(setCookies, "nexus_session")!;
  expect(cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
  secret("session cookie", cookie);
  secret("csrf token", r.body.csrfToken);
  secret("access token", r.body.token);
  return {
    username,
    password,
    id: r.body.user.id,
    token: r.body.token,
    cookie,
    csrf: r.body.csrfToken,
    setCookies,
    body: r.body,
  };
}

async function loginOk(box: Box, username: string, password: string, totp?: string): Promise<Session> {
  return sessionFrom(await login(box, username, password, { totp }), username, password);
}

function setupTokenOf(first: Awaited<ReturnType<Appliance["firstLogin"]>>): string {
  expect(first.kind).toBe("setup");
  const url = new URL((first as { url: string }).url);
  expect(url.pathname).toBe("/setup");
  return secret("setup token", url.searchParams.get("token")!);
}

async function setupAdmin(box: Box, username = "admin"): Promise<Session> {
  const token = setupTokenOf(await box.app.firstLogin());
  const password = pw();
  const r = await call(box, "POST", "/setup", { body: { token, username, password } });
  expect(r.status, r.text).toBe(201);
  return loginOk(box, username, password);
}

interface UserInfo {
  id: string;
  username: string;
  password: string;
}

async function addUser(box: Box, by: Session, username: string, roles: string[]): Promise<UserInfo> {
  const password = pw();
  const r = await call(box, "POST", "/users", { as: bearer(by), body: { username, password, roles } });
  expect(r.status, r.text).toBe(201);
  return { id: r.body.id, username, password };
}

async function addRole(box: Box, by: Session, name: string, permissions: string[]): Promise<void> {
  const r = await call(box, "POST", "/roles", { as: bearer(by), body: { name, permissions } });
  expect(r.status, r.text).toBe(201);
}

async function createKey(
  box: Box,
  by: Creds,
  permissions: string[],
  extra: { expiresInDays?: number } = {},
): Promise<{ id: string; secret: string; body: Body }> {
  const r = await call(box, "POST", "/me/api-keys", {
    as: by,
    body: { name: "test key", permissions, ...extra },
  });
  expect(r.status, r.text).toBe(201);
  return { id: r.body.id, secret: secret("api key", r.body.secret), body: r.body };
}

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const claimsOf = (token: string): Body =>
  JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
const headerOf = (token: string): Body =>
  JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString());

/** The key identity signs with now, read from its database. */
function signingKey(box: Box): { kid: string; pem: string } {
  const k = box
    .db()
    .prepare(
      "SELECT kid, private_pem FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1",
    )
    .get() as { kid: string; private_pem: string };
  return { kid: k.kid, pem: k.private_pem };
}

/** A code for `secret` that matches no step near now (so a "wrong code" never hits by chance). */
function wrongCode(totpSecret: string): string {
  const near = new Set([-3, -2, -1, 0, 1, 2, 3].map((d) => totpAt(totpSecret, currentStep() + d)));
  for (let n = 0; ; n++) {
    const c = String(n).padStart(6, "0");
    if (!near.has(c)) return c;
  }
}

/** Still-unexpired audit entries, newest first. */
async function auditEntries(box: Box, as: Creds, query = ""): Promise<Body[]> {
  const r = await call(box, "GET", `/audit?limit=1000${query}`, { as });
  expect(r.status, r.text).toBe(200);
  return r.body.entries;
}

/** Every value in every row of every table of identity.db, as text. */
function everyDbValue(box: Box): string[] {
  const db = box.db();
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
    name: string;
  }[];
  const out: string[] = [];
  for (const { name } of tables) {
    for (const row of db.prepare(`SELECT * FROM "${name}"`).all() as Record<string, unknown>[]) {
      for (const v of Object.values(row))
        if (v !== null) out.push(Buffer.isBuffer(v) ? v.toString("latin1") : String(v));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------------

describe("identity on one appliance (admin, users, roles, keys, sessions)", () => {
  let box: Box;
  let admin: Session;
  beforeAll(async () => {
    box = await startIdentity({
      NEXUS_IDENTITY_IP_MAX_FAILURES: "100000",
      NEXUS_IDENTITY_ACCESS_TOKEN_TTL_SEC: "3600",
    });
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
        permissions: ["files:read", "system:read"],
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

  describe("access tokens at the gateway", () => {
    let viewer: Session;
    beforeAll(async () => {
      const u = await addUser(box, admin, "token-viewer", ["viewer"]);
      viewer = await loginOk(box, u.username, u.password);
    });

    it("carry the site issuer, audience, subject, session, roles and lifetime; the kid is in the JWKS", async () => {
      const c = claimsOf(viewer.token);
      expect(c).toMatchObject({
        iss: "nexus-edge:local",
        aud: "nexus-edge",
        sub: viewer.id,
        name: viewer.username,
        roles: ["viewer"],
      });
      expect(c.exp - c.iat).toBe(3600);
      expect(c.nbf).toBe(c.iat);
      expect(c.sid).toMatch(/^[0-9a-f-]{36}$/);
      const h = headerOf(viewer.token);
      expect(h).toEqual({ alg: "ES256", typ: "JWT", kid: signingKey(box).kid });
      const jwks = await call(box, "GET", "/jwks");
      expect(jwks.body.keys.map((k: Body) => k.kid)).toContain(h.kid);
    });

    const FORGERIES: [name: string, make: (box: Box, good: string) => string][] = [
      ["alg none, no signature", (_b, t) => `${b64({ alg: "none", typ: "JWT" })}.${t.split(".")[1]}.`],
      [
        "alg none with perms *",
        (_b, t) =>
          `${b64({ alg: "none", typ: "JWT", kid: headerOf(t).kid })}.${b64({ ...claimsOf(t), perms: ["*"] })}.`,
      ],
      [
        "HS256 signed with the public key (PEM) as secret",
        (b, t) => {
          const pub = createPublicKey(signingKey(b).pem).export({ type: "spki", format: "pem" }).toString();
          const h = b64({ alg: "HS256", typ: "JWT", kid: headerOf(t).kid });
          const p = b64({ ...claimsOf(t), perms: ["*"] });
          return `${h}.${p}.${createHmac("sha256", pub).update(`${h}.${p}`).digest("base64url")}`;
        },
      ],
      [
        "HS256 signed with the JWKS entry as secret",
        (b, t) => {
          const jwk = JSON.stringify(createPublicKey(signingKey(b).pem).export({ format: "jwk" }));
          const h = b64({ alg: "HS256", typ: "JWT", kid: headerOf(t).kid });
          const p = b64({ ...claimsOf(t), perms: ["*"] });
          return `${h}.${p}.${createHmac("sha256", jwk).update(`${h}.${p}`).digest("base64url")}`;
        },
      ],
      [
        "payload tampered (perms *)",
        (_b, t) => {
          const [h, , s] = t.split(".");
          return `${h}.${b64({ ...claimsOf(t), perms: ["*"], roles: ["admin"] })}.${s}`;
        },
      ],
      [
        "payload tampered (another subject)",
        (_b, t) => {
          const [h, , s] = t.split(".");
          return `${h}.${b64({ ...claimsOf(t), sub: "someone-else" })}.${s}`;
        },
      ],
      [
        "signature tampered",
        (_b, t) => {
          const [h, p, s] = t.split(".") as [string, string, string];
          const sig = Buffer.from(s, "base64url");
          sig[10] = (sig[10] ?? 0) ^ 0xff;
          return `${h}.${p}.${sig.toString("base64url")}`;
        },
      ],
      ["signature dropped", (_b, t) => `${t.split(".").slice(0, 2).join(".")}.`],
      [
        "signed by an unknown key (unknown kid)",
        (_b, t) => {
          const k = generateSigningKey("ffffffffffffffff");
          return signJwt({ ...claimsOf(t), perms: ["*"] }, "ffffffffffffffff", k.privatePem);
        },
      ],
      [
        "signed by another key under the real kid",
        (_b, t) => {
          const k = generateSigningKey("x");
          return signJwt(claimsOf(t), headerOf(t).kid, k.privatePem);
        },
      ],
      [
        "expired (real key, beyond the skew)",
        (b, t) => {
          const now = Math.floor(Date.now() / 1000);
          return forge(b, { ...claimsOf(t), iat: now - 7200, nbf: now - 7200, exp: now - 120 });
        },
      ],
      [
        "not valid before an hour from now (real key)",
        (b, t) => {
          const now = Math.floor(Date.now() / 1000);
          return forge(b, { ...claimsOf(t), nbf: now + 3600, exp: now + 7200 });
        },
      ],
      [
        "another site's issuer (real key)",
        (b, t) => forge(b, { ...claimsOf(t), iss: "nexus-edge:elsewhere" }),
      ],
      ["another audience (real key)", (b, t) => forge(b, { ...claimsOf(t), aud: "some-other-app" })],
      [
        "no expiry (real key)",
        (b, t) => {
          const c = { ...claimsOf(t) };
          delete c.exp;
          return forge(b, c);
        },
      ],
      ["header JSON null", (_b, t) => `${b64(null)}.${t.split(".")[1]}.${t.split(".")[2]}`],
      ["header JSON number", (_b, t) => `${b64(7)}.${t.split(".")[1]}.${t.split(".")[2]}`],
      ["3-part garbage", () => "a.b.c"],
      ["not base64", () => "!!!.???.***"],
      ["two parts", (_b, t) => t.split(".").slice(0, 2).join(".")],
      ["four parts", (_b, t) => `${t}.${t.split(".")[2]}`],
      [
        "over-long (9000 characters)",
        (_b, t) => {
          const [h, p, s] = t.split(".");
          return `${h}.${p}${"A".repeat(9000)}.${s}`;
        },
      ],
      ["the token twice", (_b, t) => `${t}${t}`],
    ];
    function forge(b: Box, claims: Body): string {
      const k = signingKey(b);
      return signJwt(claims as TokenClaims, k.kid, k.pem);
    }

    it.each(FORGERIES)("%s → 401 at the gateway", async (_name, make) => {
      const token = make(box, viewer.token);
      secret("forged token", token);
      for (const [method, path] of [
        ["GET", "/api/identity/me"],
        ["GET", "/api/identity/users"],
        ["PUT", "/api/system/settings/forged.probe"],
      ] as const) {
        const r = await call(box, method, path, {
          as: { token },
          body: method === "PUT" ? { value: "x" } : undefined,
        });
        expect(r.status, `${method} ${path}: ${r.text}`).toBe(401);
        expectErrorShape(r.body, 401, "authentication required");
      }
      expectError(await call(box, "GET", "/api/system/settings/forged.probe", { as: bearer(admin) }), 404);
    });

    it("the genuine token still works (control) and refreshes through POST /token", async () => {
      expect((await call(box, "GET", "/me", { as: bearer(viewer) })).status).toBe(200);
      const r = await call(box, "POST", "/token", { as: bearer(viewer) });
      expect(r.status).toBe(200);
      secret("access token", r.body.token);
      expect(claimsOf(r.body.token)).toMatchObject({ sub: viewer.id, sid: claimsOf(viewer.token).sid });
      expect((await call(box, "GET", "/me", { as: { token: r.body.token } })).status).toBe(200);
    });

    it("after key rotation a token issued before still works; new tokens carry the new kid", async () => {
      const oldKid = headerOf(viewer.token).kid;
      const rot = await call(box, "POST", "/signing-keys/rotate", { as: bearer(admin) });
      expect(rot.status).toBe(200);
      expect(rot.body.kid).toMatch(/^[0-9a-f]{16}$/);
      expect(rot.body.kid).not.toBe(oldKid);
      const keys = await call(box, "GET", "/signing-keys", { as: bearer(admin) });
      expect(keys.body.keys[0]).toMatchObject({ kid: rot.body.kid, retiredAt: null });
      expect(keys.body.keys.find((k: Body) => k.kid === oldKid).retiredAt).not.toBeNull();
      expect(keys.text).not.toContain("PRIVATE");
      const jwks = (await call(box, "GET", "/jwks")).body.keys.map((k: Body) => k.kid);
      expect(jwks).toEqual(expect.arrayContaining([oldKid, rot.body.kid]));

      expect((await call(box, "GET", "/me", { as: bearer(viewer) })).status).toBe(200);
      const fresh = await loginOk(box, viewer.username, viewer.password);
      expect(headerOf(fresh.token).kid).toBe(rot.body.kid);
      // The gateway refetches the JWKS for an unknown kid at most once a second.
      await waitFor(
        async () => (await call(box, "GET", "/me", { as: bearer(fresh) })).status === 200,
        5000,
        "new-kid token accepted",
      );
      const refreshed = await call(box, "POST", "/token", { as: bearer(viewer) });
      expect(headerOf(refreshed.body.token).kid).toBe(rot.body.kid);
      secret("access token", refreshed.body.token);
      expect((await call(box, "GET", "/me", { as: bearer(viewer) })).status).toBe(200);
      const [e] = await auditEntries(box, bearer(admin), "&action=signing_key.rotated");
      expect(e).toMatchObject({ actor: "admin", target: rot.body.kid, outcome: "success" });
    });

    it("a viewer's token reaching an admin route → 403 with what it needs", async () => {
      const r = await call(box, "GET", "/users", { as: bearer(viewer) });
      expectError(r, 403, "permission denied");
      expect(r.body.data).toEqual({ needs: "identity:users:read" });
    });
  });

  describe("cookie sessions and CSRF", () => {
    let user: UserInfo;
    let s: Session;
    let other: Session;
    beforeAll(async () => {
      user = await addUser(box, admin, "cookie-user", ["operator"]);
      s = await loginOk(box, user.username, user.password);
      other = await loginOk(box, user.username, user.password);
    });

    it("cookie flags: session HttpOnly, both SameSite=Strict, Path=/, the absolute lifetime, not Secure by default", () => {
      const session = s.setCookies.find((c) => c.startsWith("nexus_session="))!;
      const csrf = s.setCookies.find((c) => c.startsWith("nexus_csrf="))!;
      const attrs = (c: string) =>
        c
          .split(";")
          .slice(1)
          .map((a) => a.trim());
      expect(attrs(session).sort()).toEqual(["HttpOnly", "Max-Age=43200", "Path=/", "SameSite=Strict"]);
      // The CSRF cookie is readable by the page on purpose (it sends it back as a header).
      expect(attrs(csrf).sort()).toEqual(["Max-Age=43200", "Path=/", "SameSite=Strict"]);
      expect(cookieValue(s.setCookies, "nexus_csrf")).toBe(s.csrf);
      expect(s.csrf).toMatch(/^[A-Za-z0-9_-]{32}$/);
    });

    it("a cookie alone is enough for GET (and HEAD)", async () => {
      const me = await call(box, "GET", "/me", { as: { cookie: s.cookie } });
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ id: user.id, via: "session" });
      expect((await call(box, "GET", "/api/system/settings", { as: { cookie: s.cookie } })).status).toBe(200);
      const head = await fetch(`${box.url}/api/system/settings`, {
        method: "HEAD",
        headers: { cookie: `nexus_session=${s.cookie}` },
      });
      expect(head.status).toBe(200);
    });

    const CHANGES: [method: string, path: string, body: unknown][] = [
      ["PUT", "/api/system/settings/csrf.probe", { value: "planted" }],
      ["DELETE", "/api/system/settings/csrf.keep", undefined],
      ["POST", "/api/identity/token", undefined],
      ["POST", "/api/identity/me/api-keys", { name: "csrf", permissions: ["system:read"] }],
      ["POST", "/api/identity/me/mfa/enroll", undefined],
      ["POST", "/api/identity/logout-all", undefined],
      ["POST", "/api/identity/logout", undefined],
      ["POST", "/api/identity/me/password", { currentPassword: "x", newPassword: "y" }],
    ];
    const BAD_CSRF: [name: string, headers: (s: Session, o: Session) => Record<string, string>][] = [
      ["no x-csrf-token", () => ({})],
      ["empty x-csrf-token", () => ({ "x-csrf-token": "" })],
      [
        "wrong token, same length",
        (x) => ({ "x-csrf-token": x.csrf.replace(/^./, (c) => (c === "A" ? "B" : "A")) }),
      ],
      ["one character short", (x) => ({ "x-csrf-token": x.csrf.slice(0, -1) })],
      ["another session's token", (_x, o) => ({ "x-csrf-token": o.csrf })],
      [
        "the token as a cookie only (no header)",
        (x) => ({ cookie: `nexus_session=${x.cookie}; nexus_csrf=${x.csrf}` }),
      ],
      ["the session secret as the token", (x) => ({ "x-csrf-token": x.cookie })],
      ["the token in another header", (x) => ({ "x-xsrf-token": x.csrf, "csrf-token": x.csrf })],
      ["the token in the query string", () => ({})],
    ];

    it("setup: a setting exists to delete", async () => {
      const r = await call(box, "PUT", "/api/system/settings/csrf.keep", {
        as: bearer(admin),
        body: { value: "keep" },
      });
      expect(r.status).toBe(200);
    });

    it.each(BAD_CSRF)(
      "cookie + %s → 403 on every state-changing route, nothing changes",
      async (name, headers) => {
        for (const [method, path, body] of CHANGES) {
          const target = name.includes("query") ? `${path}?csrf=${s.csrf}&x-csrf-token=${s.csrf}` : path;
          const r = await call(box, method, target, {
            as: { cookie: s.cookie },
            body,
            headers: headers(s, other),
          });
          expect(r.status, `${method} ${path}: ${r.text}`).toBe(403);
          expectErrorShape(r.body, 403, CSRF_MESSAGE);
        }
        expectError(await call(box, "GET", "/api/system/settings/csrf.probe", { as: bearer(admin) }), 404);
        expect(
          (await call(box, "GET", "/api/system/settings/csrf.keep", { as: bearer(admin) })).body.value,
        ).toBe("keep");
        expect((await call(box, "GET", "/me/api-keys", { as: { cookie: s.cookie } })).body.keys).toEqual([]);
        expect((await call(box, "GET", "/me", { as: { cookie: s.cookie } })).body.mfaEnabled).toBe(false);
        expect((await call(box, "GET", "/me", { as: { cookie: other.cookie } })).status).toBe(200);
      },
    );

    it("with the right x-csrf-token the same requests go through", async () => {
      const put = await call(box, "PUT", "/api/system/settings/csrf.probe", {
        as: withCookie(s),
        body: { value: "ok" },
      });
      expect(put.status).toBe(200);
      expect(
        (await call(box, "DELETE", "/api/system/settings/csrf.probe", { as: withCookie(s) })).status,
      ).toBe(200);
      const tok = await call(box, "POST", "/token", { as: withCookie(s) });
      expect(tok.status).toBe(200);
      secret("access token", tok.body.token);
      expect(claimsOf(tok.body.token).sub).toBe(user.id);
    });

    it("a bearer token needs no CSRF token (it cannot ride along cross-site)", async () => {
      const r = await call(box, "PUT", "/api/system/settings/csrf.bearer", {
        as: bearer(s),
        body: { value: "ok" },
      });
      expect(r.status).toBe(200);
    });

    it("session fixation: a planted cookie is refused and login issues a fresh random session", async () => {
      const planted = randomBytes(32).toString("base64url");
      expectError(await call(box, "GET", "/me", { as: { cookie: planted } }), 401);
      const seen = new Set<string>([planted, s.cookie, other.cookie]);
      const sids = new Set<string>([claimsOf(s.token).sid, claimsOf(other.token).sid]);
      for (let i = 0; i < 3; i++) {
        const r = await login(box, user.username, user.password, {
          cookie: `nexus_session=${planted}; nexus_csrf=planted`,
        });
        const fresh = sessionFrom(r, user.username, user.password);
        expect(seen.has(fresh.cookie), "session secret reused").toBe(false);
        expect(sids.has(claimsOf(fresh.token).sid), "session id reused").toBe(false);
        expect(fresh.csrf).not.toBe("planted");
        seen.add(fresh.cookie);
        sids.add(claimsOf(fresh.token).sid);
        expect((await call(box, "GET", "/me", { as: { cookie: fresh.cookie } })).status).toBe(200);
      }
      expectError(await call(box, "GET", "/me", { as: { cookie: planted } }), 401);
      const row = box.db().prepare("SELECT 1 FROM sessions WHERE secret_hash = ?").get(hashSecret(planted));
      expect(row).toBeUndefined();
      // Only hashes of the secrets are stored.
      const hashes = box.db().prepare("SELECT secret_hash FROM sessions WHERE user_id = ?").all(user.id) as {
        secret_hash: string;
      }[];
      for (const c of seen) if (c !== planted) expect(hashes).toContainEqual({ secret_hash: hashSecret(c) });
      for (const v of everyDbValue(box)) expect(v.includes(s.cookie)).toBe(false);
    });

    it("/me/sessions marks the current one; another user's session cannot be ended (404)", async () => {
      const mine = await call(box, "GET", "/me/sessions", { as: { cookie: s.cookie } });
      expect(mine.status).toBe(200);
      const current = mine.body.sessions.filter((x: Body) => x.current);
      expect(current).toHaveLength(1);
      expect(current[0].id).toBe(claimsOf(s.token).sid);
      expect(mine.body.sessions[0]).toMatchObject({ ip: expect.stringMatching(LOCALHOST) });
      expect(mine.text).not.toContain(s.cookie);

      const u2 = await addUser(box, admin, "cookie-other", ["viewer"]);
      const s2 = await loginOk(box, u2.username, u2.password);
      const r = await call(box, "DELETE", `/me/sessions/${claimsOf(s.token).sid}`, { as: bearer(s2) });
      expectError(r, 404, "no such session");
      expect((await call(box, "GET", "/me", { as: { cookie: s.cookie } })).status).toBe(200);
      // …nor listed: a viewer has no identity:users:read.
      expectError(await call(box, "GET", `/users/${user.id}/sessions`, { as: bearer(s2) }), 403);
    });

    it("logout revokes the session (within the gateway's cache) and clears the cookies", async () => {
      const a = await loginOk(box, user.username, user.password);
      const b = await loginOk(box, user.username, user.password);
      expect((await call(box, "GET", "/me", { as: { cookie: a.cookie } })).status).toBe(200);
      const out = await call(box, "POST", "/logout", { as: withCookie(a) });
      expect(out.status).toBe(200);
      expect(out.body).toEqual({ loggedOut: true });
      const cleared = out.headers.getSetCookie();
      expect(cleared).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^nexus_session=; HttpOnly; .*Max-Age=0/),
          expect.stringMatching(/^nexus_csrf=; .*Max-Age=0/),
        ]),
      );
      await waitFor(
        async () => (await call(box, "GET", "/me", { as: { cookie: a.cookie } })).status === 401,
        REVOKE_MS,
        "logged-out cookie refused",
      );
      expectError(await call(box, "POST", "/token", { as: bearer(a) }), 401, "session ended");
      expect((await call(box, "GET", "/me", { as: { cookie: b.cookie } })).status).toBe(200);
      const [e] = await auditEntries(box, bearer(admin), `&action=logout&actor=${user.username}`);
      expect(e.ip).toMatch(LOCALHOST);
    });

    it("logout-all revokes every session of the user, not other users'", async () => {
      const u = await addUser(box, admin, "logout-all-user", ["viewer"]);
      const sessions = [];
      for (let i = 0; i < 3; i++) sessions.push(await loginOk(box, u.username, u.password));
      for (const x of sessions)
        expect((await call(box, "GET", "/me", { as: { cookie: x.cookie } })).status).toBe(200);
      const r = await call(box, "POST", "/logout-all", { as: bearer(sessions[0]!) });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ revoked: 3 });
      for (const x of sessions) {
        await waitFor(
          async () => (await call(box, "GET", "/me", { as: { cookie: x.cookie } })).status === 401,
          REVOKE_MS,
          "revoked cookie refused",
        );
        expectError(await call(box, "POST", "/token", { as: bearer(x) }), 401, "session ended");
      }
      expect((await call(box, "GET", "/me", { as: { cookie: s.cookie } })).status).toBe(200);
      const [e] = await auditEntries(box, bearer(admin), "&action=logout.all");
      expect(e).toMatchObject({ actor: u.username, details: { sessions: 3 } });
    });

    it("an idle session ends (last use moved back past the idle limit in identity.db)", async () => {
      const u = await addUser(box, admin, "idle-user", ["viewer"]);
      const idle = await loginOk(box, u.username, u.password);
      const busy = await loginOk(box, u.username, u.password);
      const sid = claimsOf(idle.token).sid;
      box
        .db()
        .prepare("UPDATE sessions SET last_seen_at = ? WHERE id = ?")
        .run(Date.now() - 31 * 60_000, sid);
      await waitFor(
        async () => (await call(box, "GET", "/me", { as: { cookie: idle.cookie } })).status === 401,
        REVOKE_MS,
        "idle cookie refused",
      );
      expectError(await call(box, "POST", "/token", { as: bearer(idle) }), 401, "session ended");
      const listed = await call(box, "GET", "/me/sessions", { as: { cookie: busy.cookie } });
      expect(listed.body.sessions.map((x: Body) => x.id)).toEqual([claimsOf(busy.token).sid]);
    });

    it("a disabled user's cookie stops working", async () => {
      const u = await addUser(box, admin, "disabled-user", ["viewer"]);
      const x = await loginOk(box, u.username, u.password);
      const r = await call(box, "PATCH", `/users/${u.id}`, {
        as: bearer(admin),
        body: { status: "disabled" },
      });
      expect(r.status).toBe(200);
      await waitFor(
        async () => (await call(box, "GET", "/me", { as: { cookie: x.cookie } })).status === 401,
        REVOKE_MS,
        "disabled cookie refused",
      );
      expectError(await login(box, u.username, u.password), 403, "account disabled");
    });
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

  describe("API keys", () => {
    let owner: Session;
    let key: { id: string; secret: string; body: Body };
    beforeAll(async () => {
      const u = await addUser(box, admin, "key-owner", ["operator"]);
      owner = await loginOk(box, u.username, u.password);
      key = await createKey(box, bearer(owner), ["system:read"]);
    });

    it("the secret is shown once, in the creation answer only", async () => {
      expect(key.secret).toMatch(new RegExp(`^nxk_${key.id}_[A-Za-z0-9_-]{43}$`));
      expect(key.body).toMatchObject({
        name: "test key",
        permissions: ["system:read"],
        expiresAt: null,
        revokedAt: null,
        lastUsedAt: null,
      });
      const tail = key.secret.split("_").slice(2).join("_");
      for (const path of ["/me/api-keys", "/api-keys"]) {
        const r = await call(box, "GET", path, { as: bearer(path === "/api-keys" ? admin : owner) });
        expect(r.status).toBe(200);
        const listed = r.body.keys.find((k: Body) => k.id === key.id);
        expect(listed).toBeDefined();
        expect(listed).not.toHaveProperty("secret");
        expect(listed).not.toHaveProperty("secretHash");
        expect(r.text).not.toContain(tail);
      }
    });

    it("is stored hashed: no row of identity.db holds the secret or its random part", () => {
      const tail = key.secret.split("_").slice(2).join("_");
      const values = everyDbValue(box);
      expect(values.length).toBeGreaterThan(50);
      for (const v of values) {
        expect(v.includes(key.secret)).toBe(false);
        expect(v.includes(tail)).toBe(false);
      }
      const row = box.db().prepare("SELECT secret_hash FROM api_keys WHERE id = ?").get(key.id);
      expect(row).toEqual({ secret_hash: hashSecret(key.secret) });
      // No plaintext password either.
      for (const v of values) expect(v.includes(owner.password)).toBe(false);
    });

    it("works as x-api-key and as a bearer; acts only within its scope", async () => {
      for (const keyVia of ["x-api-key", "bearer"] as const) {
        const as = { key: key.secret, keyVia };
        const me = await call(box, "GET", "/me", { as });
        expect(me.status).toBe(200);
        expect(me.body).toMatchObject({ id: owner.id, via: "api-key", permissions: ["system:read"] });
        expect((await call(box, "GET", "/api/system/settings", { as })).status).toBe(200);
        const put = await call(box, "PUT", "/api/system/settings/key.probe", { as, body: { value: "x" } });
        expectError(put, 403, "permission denied");
        expect(put.body.data).toEqual({ needs: "system:write" });
        expectError(await call(box, "GET", "/api/identity/users", { as }), 403);
      }
      // …although its owner (an operator) may write settings.
      const put = await call(box, "PUT", "/api/system/settings/key.probe", {
        as: bearer(owner),
        body: { value: "owner" },
      });
      expect(put.status).toBe(200);
      expect(
        (await call(box, "GET", "/api/system/settings/key.probe", { as: { key: key.secret } })).body.value,
      ).toBe("owner");
    });

    const KEY_CANNOT: [what: string, method: string, path: string, body: unknown, status: number][] = [
      ["create API keys", "POST", "/me/api-keys", { name: "child", permissions: ["system:read"] }, 403],
      ["enrol MFA", "POST", "/me/mfa/enroll", undefined, 403],
      ["confirm MFA", "POST", "/me/mfa/confirm", { code: "123456" }, 403],
      ["turn MFA off", "POST", "/me/mfa/disable", { password: "x" }, 403],
      ["change the password", "POST", "/me/password", { currentPassword: "x", newPassword: "y" }, 403],
      ["end every session", "POST", "/logout-all", undefined, 403],
      ["end a session", "DELETE", "/me/sessions/00000000-0000-0000-0000-000000000000", undefined, 403],
      ["mint an access token", "POST", "/token", undefined, 401],
    ];
    it.each(KEY_CANNOT)("an API key cannot %s", async (_what, method, path, body, status) => {
      const r = await call(box, method, path, { as: { key: key.secret }, body });
      expectError(r, status, status === 403 ? "API keys cannot" : "session ended");
      expect((await call(box, "GET", "/me", { as: bearer(owner) })).body.mfaEnabled).toBe(false);
      expect((await call(box, "GET", "/me", { as: { cookie: owner.cookie } })).status).toBe(200);
    });

    it("cannot be created with permissions its owner lacks", async () => {
      const u = await addUser(box, admin, "key-viewer", ["viewer"]);
      const v = await loginOk(box, u.username, u.password);
      for (const permissions of [
        ["system:write"],
        ["*"],
        ["system:*"],
        ["system:read", "identity:users:read"],
        ["files:read:extra"],
      ]) {
        const r = await call(box, "POST", "/me/api-keys", {
          as: bearer(v),
          body: { name: "grab", permissions },
        });
        expectError(r, 403, "cannot grant");
        expect(r.body.data.missing.length).toBeGreaterThan(0);
      }
      const ok = await call(box, "POST", "/me/api-keys", {
        as: bearer(v),
        body: { name: "fine", permissions: ["system:read", "files:read"] },
      });
      expect(ok.status).toBe(201);
      secret("api key", ok.body.secret);
      expect((await call(box, "GET", "/me/api-keys", { as: bearer(v) })).body.keys).toHaveLength(1);
    });

    it("records last use (and audits it)", async () => {
      const r = await call(box, "GET", "/me/api-keys", { as: bearer(owner) });
      const listed = r.body.keys.find((k: Body) => k.id === key.id);
      expect(listed.lastUsedAt).not.toBeNull();
      expect(Date.now() - Date.parse(listed.lastUsedAt)).toBeLessThan(120_000);
      const used = await auditEntries(box, bearer(admin), `&action=apikey.used&target=${key.id}`);
      expect(used.length).toBeGreaterThanOrEqual(1);
      expect(used[0].actor).toBe("key-owner");
      const created = await auditEntries(box, bearer(admin), `&action=apikey.created&target=${key.id}`);
      expect(created[0]).toMatchObject({ actor: "key-owner", details: { permissions: ["system:read"] } });
      expect(created[0].ip).toMatch(LOCALHOST);
    });

    const MALFORMED: [name: string, make: (s: string) => string][] = [
      ["last character changed", (s) => s.slice(0, -1) + (s.endsWith("A") ? "B" : "A")],
      ["id of another key", (s) => s.replace(/^nxk_[A-Za-z0-9]{12}/, `nxk_${"Z".repeat(12)}`)],
      ["one character short", (s) => s.slice(0, -1)],
      ["prefix only", () => "nxk_"],
      ["600 characters", (s) => s + "a".repeat(600)],
      ["upper-case prefix", (s) => s.replace("nxk_", "NXK_")],
    ];
    it.each(MALFORMED)("a broken key (%s) → 401", async (_name, make) => {
      for (const keyVia of ["x-api-key", "bearer"] as const) {
        const r = await call(box, "GET", "/api/system/settings", { as: { key: make(key.secret), keyVia } });
        expectError(r, 401);
      }
    });

    it("a revoked key stops working within the cache time; revoking again → 404", async () => {
      const k = await createKey(box, bearer(owner), ["system:read"]);
      expect((await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status).toBe(200);
      const r = await call(box, "DELETE", `/me/api-keys/${k.id}`, { as: bearer(owner) });
      expect(r.status).toBe(200);
      await waitFor(
        async () =>
          (await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status === 401,
        REVOKE_MS,
        "revoked key refused",
      );
      expectError(await call(box, "DELETE", `/me/api-keys/${k.id}`, { as: bearer(owner) }), 404);
      const listed = (await call(box, "GET", "/me/api-keys", { as: bearer(owner) })).body.keys.find(
        (x: Body) => x.id === k.id,
      );
      expect(listed.revokedAt).not.toBeNull();
    });

    it("an admin can revoke anyone's key", async () => {
      const k = await createKey(box, bearer(owner), ["system:read"]);
      expect((await call(box, "DELETE", `/api-keys/${k.id}`, { as: bearer(admin) })).status).toBe(200);
      await waitFor(
        async () =>
          (await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status === 401,
        REVOKE_MS,
        "revoked key refused",
      );
      const [e] = await auditEntries(box, bearer(admin), `&action=apikey.revoked&target=${k.id}`);
      expect(e.actor).toBe("admin");
    });

    it("an expired key → 401 (its expiry moved into the past in identity.db)", async () => {
      const k = await createKey(box, bearer(owner), ["system:read"], { expiresInDays: 1 });
      expect(Date.parse(k.body.expiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
      expect((await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status).toBe(200);
      box
        .db()
        .prepare("UPDATE api_keys SET expires_at = ? WHERE id = ?")
        .run(Date.now() - 1000, k.id);
      await waitFor(
        async () =>
          (await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status === 401,
        REVOKE_MS,
        "expired key refused",
      );
    });

    it("a key never outlives its owner's permissions (demoted to identity:*, which is one segment)", async () => {
      await addRole(box, admin, "identity-wild", ["identity:*"]);
      const u = await addUser(box, admin, "key-demoted", ["admin"]);
      const s = await loginOk(box, u.username, u.password);
      const k = await createKey(box, bearer(s), ["identity:users:write"]);
      // Authorised: the service sees it and refuses the empty body.
      expectError(await call(box, "POST", "/users", { as: { key: k.secret }, body: {} }), 400);
      const r = await call(box, "PATCH", `/users/${u.id}`, {
        as: bearer(admin),
        body: { roles: ["identity-wild"] },
      });
      expect(r.status).toBe(200);
      await waitFor(
        async () => (await call(box, "POST", "/users", { as: { key: k.secret }, body: {} })).status === 403,
        REVOKE_MS,
        "demoted owner's key refused",
      );
      expect((await call(box, "GET", "/me", { as: { key: k.secret } })).body.permissions).toEqual([]);
    });

    it("a disabled owner's keys stop working", async () => {
      const u = await addUser(box, admin, "key-disabled", ["viewer"]);
      const s = await loginOk(box, u.username, u.password);
      const k = await createKey(box, bearer(s), ["system:read"]);
      expect((await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status).toBe(200);
      expect(
        (await call(box, "PATCH", `/users/${u.id}`, { as: bearer(admin), body: { status: "disabled" } }))
          .status,
      ).toBe(200);
      await waitFor(
        async () =>
          (await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status === 401,
        REVOKE_MS,
        "disabled owner's key refused",
      );
    });
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

  describe("the audit log", () => {
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

// ---------------------------------------------------------------------------------------------------------

describe("expiry on the real clock (token TTL 30 s, session idle 60 s)", () => {
  let box: Box;
  beforeAll(async () => {
    box = await startIdentity({
      NEXUS_IDENTITY_ACCESS_TOKEN_TTL_SEC: "30",
      NEXUS_IDENTITY_SESSION_IDLE_SEC: "60",
    });
  });
  afterAll(async () => {
    await box?.stop();
  });

  it("an access token dies after its TTL (+30 s skew); an unused session after the idle time; a used one lives on", async () => {
    const admin = await setupAdmin(box, "admin");
    const issued = Date.now();
    const idle = await loginOk(box, admin.username, admin.password);
    // Its last use is no later than this (a use within 10 s of the last one does not move it).
    const idleSince = Date.now();
    const busy = await loginOk(box, admin.username, admin.password);
    const c = claimsOf(idle.token);
    expect(c.exp - c.iat).toBe(30);
    expect(idle.body.expiresIn).toBe(30);
    expect((await call(box, "GET", "/me", { as: { cookie: idle.cookie } })).status).toBe(200);

    let idleGone = 0;
    let tokenGone = 0;
    let lastBusy = 0;
    await waitFor(
      async () => {
        const elapsed = Date.now() - issued;
        // Keep one session in use (every 5 s, past the gateway's cache) so it never idles out.
        if (Date.now() - lastBusy > 5000) {
          lastBusy = Date.now();
          const r = await call(box, "GET", "/me", { as: { cookie: busy.cookie } });
          expect(r.status, `busy session at ${elapsed} ms`).toBe(200);
        }
        if (!tokenGone && (await call(box, "GET", "/me", { as: bearer(idle) })).status === 401)
          tokenGone = elapsed;
        // Probe the idle session only once it must be gone: a use before that would restart its idle time.
        if (!idleGone && Date.now() - idleSince > 61_000) {
          const r = await call(box, "GET", "/me", { as: { cookie: idle.cookie } });
          expect(r.status, "idle session after 61 s").toBe(401);
          idleGone = elapsed;
        }
        return tokenGone && idleGone;
      },
      100_000,
      "token and idle session to expire",
    );
    // exp = iat + 30 s; refused once now > exp + 30 s skew. Whole seconds: allow 1 s of rounding.
    expect(tokenGone).toBeGreaterThanOrEqual(58_000);
    expect((await call(box, "GET", "/me", { as: { cookie: busy.cookie } })).status).toBe(200);
    const listed = await call(box, "GET", "/me/sessions", { as: { cookie: busy.cookie } });
    const ids = listed.body.sessions.map((s: Body) => s.id);
    expect(ids).toContain(claimsOf(busy.token).sid);
    expect(ids).not.toContain(c.sid);
  }, 150_000);
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
