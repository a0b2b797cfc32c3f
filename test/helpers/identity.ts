/**
 * The harness of the identity integration tests (test/integration/identity-*.test.ts): real appliances
 * running identity + system (supervisor, nats-server, service processes, the gateway), requests through the
 * gateway, sessions, users, keys, and a record of every secret the tests handle so that each file can check
 * none reached a log. All traffic stays on 127.0.0.1.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { expect } from "vitest";
import type { Appliance } from "../../appliance/appliance.js";
import { currentStep, totpAt } from "../../services/identity/totp.js";
import { removeDir, startTestAppliance, type TestAppliance } from "./appliance.js";

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field by the tests
export type Body = any;

/** Where test/helpers' startTestAppliance sends the supervisor's log. */
export const SUPERVISOR_LOG = join(os.tmpdir(), "nexus-test-supervisor.log");
export const LOCALHOST = /^(::ffff:)?127\.0\.0\.1$/;
export const INVALID_LOGIN = "invalid username or password";
export const CSRF_MESSAGE = "missing or invalid CSRF token";
/** Revocation reaches the gateway within its 5 s introspection cache; allow for a loaded box. */
export const REVOKE_MS = 12_000;

// ---------------------------------------------------------------------------------------------------------
// Harness

/** Every secret a test handles (value → what it is), checked against the logs at the end. */
export const SECRETS = new Map<string, string>();
export function secret(kind: string, value: string): string {
  if (value.length >= 8) SECRETS.set(value, kind);
  return value;
}
export let pwCount = 0;
/** A fresh password that passes the policy. */
export const pw = () => secret("password", `Pw${++pwCount}-${randomBytes(12).toString("base64url")}`);

/** Data dirs of the boxes started in this test file (their logs are checked before they go). */
export const dataDirs: string[] = [];

/** Log files of this file's boxes and the supervisor log. */
export function logFiles(): string[] {
  const files = (dir: string): string[] => {
    if (!existsSync(dir)) return [];
    return readdirSync(dir).flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? files(p) : [p];
    });
  };
  return [...dataDirs.flatMap((d) => files(join(d, "logs"))), SUPERVISOR_LOG].filter((f) => existsSync(f));
}

/** Every secret this file's tests handled that one of `logs` holds, as "kind (prefix…) in file". */
export function secretLeaks(logs: string[]): string[] {
  const leaks: string[] = [];
  for (const f of logs) {
    const text = readFileSync(f, "latin1");
    for (const [value, kind] of SECRETS)
      if (text.includes(value)) leaks.push(`${kind} (${value.slice(0, 6)}…) in ${f}`);
  }
  return leaks;
}

/**
 * For each identity test file's afterAll: no secret its tests handled reached a log (the check the single
 * file made once for all its boxes), then the boxes' data dirs go.
 */
export function finishIdentityFile(): void {
  const leaks = secretLeaks(logFiles());
  for (const d of dataDirs.splice(0)) removeDir(d);
  if (leaks.length) throw new Error(`secrets in logs:\n${leaks.join("\n")}`);
}

export interface Box {
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
export async function startIdentity(env: Record<string, string> = {}): Promise<Box> {
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
export class Raw {
  constructor(readonly text: string) {}
}

export interface Creds {
  token?: string;
  cookie?: string;
  csrf?: string;
  key?: string;
  keyVia?: "x-api-key" | "bearer";
}

export interface Res {
  status: number;
  body: Body;
  text: string;
  headers: Headers;
}

/** One request through the gateway; paths not under /api/ are identity's. */
export async function call(
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
export function expectErrorShape(body: unknown, status: number, message?: string): void {
  expect(body).toBeTypeOf("object");
  expect(Object.keys(body as object).sort()).toEqual(["data", "message", "status"]);
  const b = body as { status: number; message: string };
  expect(b.status).toBe(status);
  expect(b.message).toBeTypeOf("string");
  if (message !== undefined) expect(b.message).toContain(message);
}

export function expectError(r: Res, status: number, message?: string): void {
  expect(r.status, r.text.slice(0, 300)).toBe(status);
  expectErrorShape(r.body, status, message);
}

export interface Session {
  username: string;
  password: string;
  id: string;
  token: string;
  cookie: string;
  csrf: string;
  setCookies: string[];
  body: Body;
}

export const bearer = (s: { token: string }): Creds => ({ token: s.token });
export const withCookie = (s: { cookie: string; csrf: string }): Creds => ({
  cookie: s.cookie,
  csrf: s.csrf,
});

export function cookieValue(setCookies: string[], name: string): string | undefined {
  for (const c of setCookies) {
    const m = new RegExp(`^${name}=([^;]*)`).exec(c);
    if (m) return m[1];
  }
  return undefined;
}

export function login(
  box: Box,
  username: string,
  password: string,
  extra: { totp?: string; cookie?: string } = {},
) {
  return call(box, "POST", "/login", {
    body: { username, password, ...(extra.totp !== undefined ? { totp: extra.totp } : {}) },
    headers: extra.cookie ? { cookie: extra.cookie } : {},
  });
}

export function sessionFrom(r: Res, username: string, password: string): Session {
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

export async function loginOk(box: Box, username: string, password: string, totp?: string): Promise<Session> {
  return sessionFrom(await login(box, username, password, { totp }), username, password);
}

export function setupTokenOf(first: Awaited<ReturnType<Appliance["firstLogin"]>>): string {
  expect(first.kind).toBe("setup");
  const url = new URL((first as { url: string }).url);
  expect(url.pathname).toBe("/setup");
  return secret("setup token", url.searchParams.get("token")!);
}

export async function setupAdmin(box: Box, username = "admin"): Promise<Session> {
  const token = setupTokenOf(await box.app.firstLogin());
  const password = pw();
  const r = await call(box, "POST", "/setup", { body: { token, username, password } });
  expect(r.status, r.text).toBe(201);
  return loginOk(box, username, password);
}

export interface UserInfo {
  id: string;
  username: string;
  password: string;
}

export async function addUser(box: Box, by: Session, username: string, roles: string[]): Promise<UserInfo> {
  const password = pw();
  const r = await call(box, "POST", "/users", { as: bearer(by), body: { username, password, roles } });
  expect(r.status, r.text).toBe(201);
  return { id: r.body.id, username, password };
}

export async function addRole(box: Box, by: Session, name: string, permissions: string[]): Promise<void> {
  const r = await call(box, "POST", "/roles", { as: bearer(by), body: { name, permissions } });
  expect(r.status, r.text).toBe(201);
}

export async function createKey(
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

export const b64 = (v: unknown) =>
  Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
export const claimsOf = (token: string): Body =>
  JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
export const headerOf = (token: string): Body =>
  JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString());

/** The key identity signs with now, read from its database. */
export function signingKey(box: Box): { kid: string; pem: string } {
  const k = box
    .db()
    .prepare(
      "SELECT kid, private_pem FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1",
    )
    .get() as { kid: string; private_pem: string };
  return { kid: k.kid, pem: k.private_pem };
}

/** A code for `secret` that matches no step near now (so a "wrong code" never hits by chance). */
export function wrongCode(totpSecret: string): string {
  const near = new Set([-3, -2, -1, 0, 1, 2, 3].map((d) => totpAt(totpSecret, currentStep() + d)));
  for (let n = 0; ; n++) {
    const c = String(n).padStart(6, "0");
    if (!near.has(c)) return c;
  }
}

/** Still-unexpired audit entries, newest first. */
export async function auditEntries(box: Box, as: Creds, query = ""): Promise<Body[]> {
  const r = await call(box, "GET", `/audit?limit=1000${query}`, { as });
  expect(r.status, r.text).toBe(200);
  return r.body.entries;
}

/** Every value in every row of every table of identity.db, as text. */
export function everyDbValue(box: Box): string[] {
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

/** The name of the block that runs on one shared appliance in each file that has a part of it. */
export const ONE_APPLIANCE = "identity on one appliance (admin, users, roles, keys, sessions)";
/** Identity settings of that appliance. */
export const ONE_APPLIANCE_ENV = {
  NEXUS_IDENTITY_IP_MAX_FAILURES: "100000",
  NEXUS_IDENTITY_ACCESS_TOKEN_TTL_SEC: "3600",
};
