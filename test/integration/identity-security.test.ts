/**
 * Security findings of "Service contract v2", end to end against one real appliance (supervisor,
 * nats-server, identity + system, the gateway): login answers that do not tell a locked account from an
 * unknown one, /me password checks that count toward the lockout and the per-IP throttle, who may change
 * whom, what API keys and temporary passwords may do, team membership, and the per-user cap on live streams.
 * Counters and locks are read from (and the per-IP window reset in) identity.db; nothing waits on the clock.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { currentStep, totpAt } from "../../services/identity/totp.js";
import { removeDir, startTestAppliance, type TestAppliance, waitFor } from "../helpers/appliance.js";

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field by the tests
type Body = any;

const INVALID_LOGIN = { status: 401, message: "invalid username or password", data: null };
/** Identity settings for this file's box (the supervisor hands services its own process.env). */
const IDENTITY_ENV: Record<string, string> = {
  NEXUS_IDENTITY_LOCKOUT_THRESHOLD: "3",
  // Locks that outlast every test: nothing here depends on a lock expiring.
  NEXUS_IDENTITY_LOCKOUT_BASE_SEC: "3600",
  NEXUS_IDENTITY_LOCKOUT_MAX_SEC: "3600",
  NEXUS_IDENTITY_IP_MAX_FAILURES: "6",
};
const SSE_PER_USER = 2;

let pwCount = 0;
/** A fresh password that passes the policy. */
const pw = () => `Pw${++pwCount}-${randomBytes(12).toString("base64url")}`;

interface Creds {
  token?: string;
  key?: string;
}

interface Res {
  status: number;
  body: Body;
  text: string;
}

let app: TestAppliance;
let db: Database.Database;
const saved = new Map<string, string | undefined>();

beforeAll(async () => {
  for (const [k, v] of Object.entries(IDENTITY_ENV)) {
    saved.set(k, process.env[k]);
    process.env[k] = v;
  }
  app = await startTestAppliance({
    services: ["identity", "system"],
    env: {
      NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000",
      NEXUS_GATEWAY_SSE_MAX_STREAMS_PER_USER: String(SSE_PER_USER),
    },
  });
  db = new Database(join(app.dataDir, "services", "identity", "identity.db"), { timeout: 10_000 });
});

afterAll(async () => {
  db?.close();
  await app?.stop();
  if (app) removeDir(app.dataDir);
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

/** A clean per-IP window: all traffic comes from 127.0.0.1, and every test starts with one. */
const resetIpWindow = () => db.prepare("DELETE FROM ip_failures").run();
beforeEach(() => {
  resetIpWindow();
});

/** One request through the gateway; paths not under /api/ are identity's. */
async function call(method: string, path: string, opts: { as?: Creds; body?: unknown } = {}): Promise<Res> {
  const h: Record<string, string> = {};
  if (opts.as?.token) h.authorization = `Bearer ${opts.as.token}`;
  if (opts.as?.key) h["x-api-key"] = opts.as.key;
  if (opts.body !== undefined) h["content-type"] = "application/json";
  const url = `${app.url}${path.startsWith("/api/") ? path : `/api/identity${path}`}`;
  const res = await fetch(url, {
    method,
    headers: h,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let body: Body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return { status: res.status, body, text };
}

/** Asserts the status and the one wire error shape `{ status, message, data }`. */
function expectError(r: Res, status: number, message?: string): void {
  expect(r.status, r.text.slice(0, 300)).toBe(status);
  expect(Object.keys(r.body).sort()).toEqual(["data", "message", "status"]);
  expect(r.body.status).toBe(status);
  if (message !== undefined) expect(r.body.message).toContain(message);
}

const login = (username: string, password: string) =>
  call("POST", "/login", { body: { username, password } });

interface Session {
  id: string;
  username: string;
  password: string;
  token: string;
}

async function loginOk(username: string, password: string): Promise<Session> {
  const r = await login(username, password);
  expect(r.status, r.text.slice(0, 300)).toBe(200);
  return { id: r.body.user.id, username, password, token: r.body.token };
}

let adminSession: Session | null = null;
/** The admin, signed in once (the first call redeems the setup link). */
async function admin(): Promise<Creds> {
  if (!adminSession) {
    const first = await app.firstLogin();
    if (first.kind !== "setup") throw new Error("expected a setup link");
    const token = new URL(first.url).searchParams.get("token");
    const password = pw();
    const r = await call("POST", "/setup", { body: { token, username: "admin", password } });
    expect(r.status, r.text).toBe(201);
    adminSession = await loginOk("admin", password);
  }
  // Access tokens live 5 min; a slow, loaded run gets a fresh one rather than a 401.
  const t = await call("POST", "/token", { as: { token: adminSession.token } });
  if (t.status === 200) adminSession.token = t.body.token;
  return { token: adminSession.token };
}

const adminId = async () => {
  await admin();
  return adminSession!.id;
};

async function addUser(
  username: string,
  roles: string[],
): Promise<{ id: string; username: string; password: string }> {
  const password = pw();
  const r = await call("POST", "/users", { as: await admin(), body: { username, password, roles } });
  expect(r.status, r.text).toBe(201);
  return { id: r.body.id, username, password };
}

/** A signed-in user with `roles`. */
async function signedIn(username: string, roles: string[]): Promise<Session> {
  const u = await addUser(username, roles);
  return loginOk(u.username, u.password);
}

async function addRole(name: string, permissions: string[]): Promise<void> {
  const r = await call("POST", "/roles", { as: await admin(), body: { name, permissions } });
  expect(r.status, r.text).toBe(201);
}

const lockRow = (id: string) =>
  db.prepare("SELECT failed_logins, lockouts, locked_until FROM users WHERE id = ?").get(id) as {
    failed_logins: number;
    lockouts: number;
    locked_until: number | null;
  };

/** Three wrong logins: locked for an hour (the box's threshold and lock time). */
async function lockOut(username: string): Promise<void> {
  for (let i = 0; i < 3; i++) expect((await login(username, `wrong-${i}-${pw()}`)).status).toBe(401);
}

// ---------------------------------------------------------------------------------------------------------

describe("login: a locked account answers like an unknown user", () => {
  it("same status and body for a locked account (right or wrong password), an unknown user and a wrong password", async () => {
    const u = await addUser("locked-same", ["viewer"]);
    const other = await addUser("unlocked-other", ["viewer"]);
    await lockOut(u.username);
    resetIpWindow();
    expect(lockRow(u.id).locked_until).toBeGreaterThan(Date.now());
    const answers = [
      await login(u.username, u.password),
      await login(u.username, "wrong-while-locked"),
      await login("nobody-at-all", "whatever-password"),
      await login(other.username, "wrong-password"),
    ];
    for (const r of answers) {
      expect(r.status, r.text).toBe(401);
      expect(r.body).toEqual(INVALID_LOGIN);
    }
    // The lock itself still holds and is still audited for admins.
    const reasons = (
      await call("GET", `/audit?actor=${u.username}&outcome=failure&limit=100`, { as: await admin() })
    ).body.entries.map((e: Body) => e.details.reason);
    expect(reasons).toContain("locked");
  });

  it("refusals of a locked account count toward the per-IP throttle, as an unknown user's do", async () => {
    const u = await addUser("locked-ip", ["viewer"]);
    await lockOut(u.username);
    resetIpWindow();
    for (let i = 0; i < 6; i++) expect((await login(u.username, u.password)).status).toBe(401);
    expectError(await login("nobody-after", "x-password"), 429, "too many failed logins");
    expectError(await login(u.username, u.password), 429, "too many failed logins");
  });

  it("an unknown user and a locked account cost the password hash a real login costs (interleaved medians)", async () => {
    const u = await addUser("timing-known", ["viewer"]);
    const locked = await addUser("timing-locked", ["viewer"]);
    await lockOut(locked.username);
    const time = async (username: string, password: string) => {
      resetIpWindow();
      const t0 = performance.now();
      await login(username, password);
      return performance.now() - t0;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    const lockedMs: number[] = [];
    for (let i = 0; i < 7; i++) {
      known.push(await time(u.username, u.password));
      unknown.push(await time(`nobody-${i}`, "some-password"));
      lockedMs.push(await time(locked.username, locked.password));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    // A skipped scrypt would answer in a small fraction of the time; the bound is loose for a loaded box.
    expect(median(unknown)).toBeGreaterThan(median(known) * 0.3);
    expect(median(lockedMs)).toBeGreaterThan(median(known) * 0.3);
  });
});

describe("/me password checks count like logins", () => {
  it("wrong current passwords on /me/password lock the account; then even the right one is refused", async () => {
    const s = await signedIn("oracle-pw", ["viewer"]);
    for (let i = 0; i < 3; i++) {
      const r = await call("POST", "/me/password", {
        as: s,
        body: { currentPassword: `guess-${i}`, newPassword: pw() },
      });
      expectError(r, 403, "current password is wrong");
    }
    expect(lockRow(s.id).lockouts).toBe(1);
    expect(lockRow(s.id).locked_until).toBeGreaterThan(Date.now());
    const right = await call("POST", "/me/password", {
      as: s,
      body: { currentPassword: s.password, newPassword: pw() },
    });
    expectError(right, 423, "account locked");
    // The password did not change, and the account is locked for logins too.
    expect((await login(s.username, s.password)).body).toEqual(INVALID_LOGIN);
    const locks = (await call("GET", `/audit?action=account.locked&target=${s.id}`, { as: await admin() }))
      .body.entries;
    expect(locks).toHaveLength(1);
  });

  it("wrong passwords on /me/mfa/disable lock the account; MFA stays on", async () => {
    const s = await signedIn("oracle-mfa", ["viewer"]);
    const totpSecret = (await call("POST", "/me/mfa/enroll", { as: s })).body.secret as string;
    const confirm = await call("POST", "/me/mfa/confirm", {
      as: s,
      body: { code: totpAt(totpSecret, currentStep()) },
    });
    expect(confirm.status, confirm.text).toBe(200);
    for (let i = 0; i < 3; i++) {
      expectError(await call("POST", "/me/mfa/disable", { as: s, body: { password: `guess-${i}` } }), 403);
    }
    expect(lockRow(s.id).locked_until).toBeGreaterThan(Date.now());
    expectError(await call("POST", "/me/mfa/disable", { as: s, body: { password: s.password } }), 423);
    const row = db.prepare("SELECT totp_enabled FROM users WHERE id = ?").get(s.id) as {
      totp_enabled: number;
    };
    expect(row.totp_enabled).toBe(1);
  });

  it("wrong current passwords count toward the per-IP throttle; a throttled address is refused the right one", async () => {
    const s = await signedIn("oracle-ip", ["viewer"]);
    resetIpWindow();
    for (let i = 0; i < 5; i++) expect((await login(`nobody-ip-${i}`, "x-password")).status).toBe(401);
    expectError(
      await call("POST", "/me/password", { as: s, body: { currentPassword: "guess-ip", newPassword: pw() } }),
      403,
    );
    const right = await call("POST", "/me/password", {
      as: s,
      body: { currentPassword: s.password, newPassword: pw() },
    });
    expectError(right, 429, "too many failed");
    expectError(await call("POST", "/me/mfa/disable", { as: s, body: { password: s.password } }), 429);
    expectError(await login(s.username, s.password), 429);
  });

  it("the right current password still works (control) and clears the account's failure count", async () => {
    const s = await signedIn("oracle-ok", ["viewer"]);
    await call("POST", "/me/password", { as: s, body: { currentPassword: "guess", newPassword: pw() } });
    expect(lockRow(s.id).failed_logins).toBe(1);
    const next = pw();
    const r = await call("POST", "/me/password", {
      as: s,
      body: { currentPassword: s.password, newPassword: next },
    });
    expect(r.status, r.text).toBe(200);
    expect(lockRow(s.id).failed_logins).toBe(0);
    await loginOk(s.username, next);
  });
});

describe("changing a user needs everything they hold", () => {
  it("a user manager (identity:users:*) cannot rename an admin: 403, the name stays", async () => {
    await addRole("user-manager", ["identity:users:read", "identity:users:write"]);
    const m = await signedIn("rename-manager", ["user-manager"]);
    const target = await adminId();
    const r = await call("PATCH", `/users/${target}`, { as: m, body: { displayName: "pwned" } });
    expectError(r, 403, "cannot");
    expect((await call("GET", `/users/${target}`, { as: await admin() })).body.displayName).toBe("admin");
    // Control: a user holding nothing it lacks can be renamed by it.
    const plain = await addUser("rename-plain", []);
    const ok = await call("PATCH", `/users/${plain.id}`, { as: m, body: { displayName: "Plain Person" } });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.displayName).toBe("Plain Person");
  });
});

describe("API keys cannot act on /me/*", () => {
  it("a key scoped to system:read cannot list its owner's sessions or keys (403); GET /me still answers", async () => {
    const s = await signedIn("key-reader", ["viewer"]);
    const k = await call("POST", "/me/api-keys", {
      as: s,
      body: { name: "k", permissions: ["system:read"] },
    });
    expect(k.status, k.text).toBe(201);
    const key = { key: k.body.secret as string };
    expectError(await call("GET", "/me/sessions", { as: key }), 403, "API keys cannot");
    expectError(await call("GET", "/me/api-keys", { as: key }), 403, "API keys cannot");
    const me = await call("GET", "/me", { as: key });
    expect(me.status, me.text).toBe(200);
    expect(me.body.via).toBe("api-key");
    // The owner, signed in, still can.
    expect((await call("GET", "/me/api-keys", { as: s })).status).toBe(200);
  });
});

describe("a temporary password", () => {
  it("cannot create API keys (403, none stored) until it is changed", async () => {
    const u = await addUser("temp-keys", ["viewer"]);
    const reset = await call("POST", `/users/${u.id}/reset-password`, { as: await admin(), body: {} });
    expect(reset.status, reset.text).toBe(200);
    const s = await loginOk(u.username, reset.body.temporaryPassword);
    const r = await call("POST", "/me/api-keys", {
      as: s,
      body: { name: "k", permissions: ["system:read"] },
    });
    expectError(r, 403, "change your password");
    const keys = db.prepare("SELECT count(*) AS n FROM api_keys WHERE user_id = ?").get(u.id) as {
      n: number;
    };
    expect(keys.n).toBe(0);
    // Control: after the change, a fresh token may.
    const changed = await call("POST", "/me/password", {
      as: s,
      body: { currentPassword: reset.body.temporaryPassword, newPassword: pw() },
    });
    expect(changed.status, changed.text).toBe(200);
    const ok = await call("POST", "/me/api-keys", {
      as: s,
      body: { name: "k", permissions: ["system:read"] },
    });
    expect(ok.status, ok.text).toBe(201);
  });
});

describe("team membership", () => {
  let manager: Session;
  let team: string;
  let member: { id: string };
  beforeAll(async () => {
    await addRole("team-manager", ["identity:teams:read", "identity:teams:write", "identity:users:read"]);
    manager = await signedIn("team-manager", ["team-manager"]);
    member = await addUser("team-member-a", ["viewer"]);
    const t = await call("POST", "/teams", { as: await admin(), body: { name: "field-team" } });
    expect(t.status, t.text).toBe(201);
    team = t.body.id;
    const add = await call("POST", `/teams/${team}/members`, {
      as: await admin(),
      body: { userId: member.id },
    });
    expect(add.status, add.text).toBe(200);
  });

  const members = () =>
    (
      db.prepare("SELECT user_id FROM team_members WHERE team_id = ? ORDER BY user_id").all(team) as {
        user_id: string;
      }[]
    ).map((r) => r.user_id);

  it("identity:teams:write alone cannot add yourself (or anyone) to a team you are not in: 403", async () => {
    const before = members();
    expectError(
      await call("POST", `/teams/${team}/members`, { as: manager, body: { userId: manager.id } }),
      403,
      "team",
    );
    const other = await addUser("team-member-b", ["viewer"]);
    expectError(
      await call("POST", `/teams/${team}/members`, { as: manager, body: { userId: other.id } }),
      403,
    );
    expectError(await call("DELETE", `/teams/${team}/members/${member.id}`, { as: manager }), 403);
    expect(members()).toEqual(before);
  });

  it("identity:teams:write alone cannot delete a team you are not in: 403, the team and its members stay", async () => {
    const before = members();
    expectError(await call("DELETE", `/teams/${team}`, { as: manager }), 403, "team");
    expect(db.prepare("SELECT count(*) AS n FROM teams WHERE id = ?").get(team)).toEqual({ n: 1 });
    expect(members()).toEqual(before);
  });

  it("a member of the team with identity:teams:write manages its members (control)", async () => {
    const add = await call("POST", `/teams/${team}/members`, {
      as: await admin(),
      body: { userId: manager.id },
    });
    expect(add.status, add.text).toBe(200);
    const other = await addUser("team-member-c", ["viewer"]);
    const r = await call("POST", `/teams/${team}/members`, { as: manager, body: { userId: other.id } });
    expect(r.status, r.text).toBe(200);
    const gone = await call("DELETE", `/teams/${team}/members/${other.id}`, { as: manager });
    expect(gone.status, gone.text).toBe(200);
  });

  it("the creator of a team becomes its member, so it can manage and delete it (control)", async () => {
    const t = await call("POST", "/teams", { as: manager, body: { name: "manager-made" } });
    expect(t.status, t.text).toBe(201);
    expect(t.body.members).toEqual([{ id: manager.id, username: manager.username }]);
    const del = await call("DELETE", `/teams/${t.body.id}`, { as: manager });
    expect(del.status, del.text).toBe(200);
  });
});

describe("live streams: a per-user cap", () => {
  /** Opens /api/appliance/events; the caller closes it with the returned abort. */
  async function open(token: string): Promise<{ status: number; body: Body; close: () => void }> {
    const ac = new AbortController();
    const res = await fetch(`${app.url}/api/appliance/events?intervalMs=60000`, {
      headers: { authorization: `Bearer ${token}` },
      signal: ac.signal,
    });
    if (res.status === 200) return { status: 200, body: null, close: () => ac.abort() };
    const body = await res.json();
    return { status: res.status, body, close: () => ac.abort() };
  }

  it(`one user gets ${SSE_PER_USER} streams, then 429 in the error shape; others still get theirs`, async () => {
    await addRole("box-reader", ["appliance:read"]);
    const a = await signedIn("sse-a", ["box-reader"]);
    const b = await signedIn("sse-b", ["box-reader"]);
    const opened = [await open(a.token), await open(a.token)];
    try {
      for (const s of opened) expect(s.status).toBe(200);
      const over = await open(a.token);
      over.close();
      expect(over.status).toBe(429);
      expect(Object.keys(over.body).sort()).toEqual(["data", "message", "status"]);
      expect(over.body).toMatchObject({ status: 429, message: expect.stringContaining("live streams") });
      const fromB = await open(b.token);
      opened.push(fromB);
      expect(fromB.status).toBe(200);
      // Closing one frees its slot (once the gateway has seen the close).
      opened[0]!.close();
      const again = await waitFor(
        async () => {
          const s = await open(a.token);
          if (s.status === 200) return s;
          s.close();
          return null;
        },
        10_000,
        "a freed stream slot",
      );
      if (again) opened.push(again);
    } finally {
      for (const s of opened) s.close();
    }
  });
});
