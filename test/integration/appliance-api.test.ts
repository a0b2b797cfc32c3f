/**
 * The gateway's own API (/api/appliance/…) against a real appliance with identity and system: who may call
 * what (401/403, CSRF on cookie sessions, API key scopes), hostile names and queries, stop/start/restart
 * (also concurrent), logs (tail, filter, follow, download), the live status stream, and sync with the hub
 * (status of a box not enrolled, then enrolled with a hub it cannot reach; the backlog samples behind the
 * "sync backlog growing" alert). `NEXUS_ISOLATION=shared` runs it all against one shared host (identity and
 * system in one process, the gateway in it too).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAppliance } from "../../appliance/appliance.js";
import { loadApplianceConfig } from "../../appliance/config/load.js";
import { statusSchema, syncSchema } from "../../appliance/gateway/appliance-routes.js";
import { addSample, SAMPLE_MS, syncAlerts } from "../../appliance/gateway/appliance-sync.js";
import { dataPaths } from "../../appliance/paths.js";
import type { SyncStatus } from "../../appliance/sync-status.js";
import { removeDir, startTestAppliance, type TestAppliance, tempDir, waitFor } from "../helpers/appliance.js";
import { rawRequest, rawRequestText } from "../helpers/raw-http.js";

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field
type Body = any;

interface Creds {
  token?: string;
  cookie?: string;
  csrf?: string;
  key?: string;
}

const SHARED = process.env.NEXUS_ISOLATION === "shared";
let box: TestAppliance;
const who: Record<"admin" | "operator" | "viewer", Creds & { cookie: string; csrf: string; token: string }> =
  {} as never;
let readKey = "";

async function call(method: string, path: string, as?: Creds, init: RequestInit = {}) {
  const h: Record<string, string> = { ...(init.headers as Record<string, string>) };
  if (as?.token) h.authorization = `Bearer ${as.token}`;
  if (as?.key) h["x-api-key"] = as.key;
  if (as?.cookie) h.cookie = `nexus_session=${as.cookie}`;
  if (as?.csrf) h["x-csrf-token"] = as.csrf;
  const res = await fetch(`${box.url}${path}`, { ...init, method, headers: h });
  const text = await res.text();
  let body: Body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body, text, headers: res.headers };
}

function expectError(r: { status: number; body: Body; text: string }, status: number, message?: string) {
  expect(r.status, r.text.slice(0, 300)).toBe(status);
  expect(Object.keys(r.body).sort()).toEqual(["data", "message", "status"]);
  expect(r.body.status).toBe(status);
  if (message) expect(r.body.message).toContain(message);
}

async function login(username: string, password: string) {
  const res = await fetch(`${box.url}/api/identity/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  const body = (await res.json()) as Body;
  expect(res.status, JSON.stringify(body)).toBe(200);
  const cookie = /nexus_session=([^;]+)/.exec(res.headers.getSetCookie().join("\n"))![1]!;
  return { cookie, csrf: body.csrfToken as string, token: body.token as string };
}

const status = async () => (await call("GET", "/api/appliance/status", who.admin)).body;
const stateOf = async (name: string) =>
  ((await status()).services as { name: string; state: string }[]).find((s) => s.name === name)?.state;

/** Reads SSE events from `path` until `enough` says so (or `timeoutMs`); then closes the stream. */
async function readEvents(
  path: string,
  as: Creds,
  enough: (events: { event: string; data: Body }[]) => boolean,
  timeoutMs = 10_000,
) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const events: { event: string; data: Body }[] = [];
  const res = await fetch(`${box.url}${path}`, {
    headers: { authorization: `Bearer ${as.token}` },
    signal: ac.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const reader = res.body!.getReader();
  let buf = "";
  try {
    while (!enough(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += new TextDecoder().decode(value);
      let i = buf.indexOf("\n\n");
      while (i >= 0) {
        const chunk = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(chunk)?.[1];
        const data = /^data: (.*)$/m.exec(chunk)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
        i = buf.indexOf("\n\n");
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return events;
}

beforeAll(async () => {
  box = await startTestAppliance({
    services: ["identity", "system"],
    env: { NEXUS_GATEWAY_RATE_LIMIT_MAX: "100000" },
  });
  const first = await box.firstLogin();
  if (first.kind !== "setup") throw new Error("expected a setup link");
  const token = new URL(first.url).searchParams.get("token");
  const pw = { admin: "admin-long-pass-1x", operator: "operator-pass-22x", viewer: "viewer-pass-333x" };
  const setup = await fetch(`${box.url}/api/identity/setup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token, username: "root", password: pw.admin }),
  });
  expect(setup.status).toBe(201);
  who.admin = await login("root", pw.admin);
  for (const role of ["operator", "viewer"] as const) {
    const r = await call("POST", "/api/identity/users", who.admin, {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: `${role}1`, password: pw[role], roles: [role] }),
    });
    expect(r.status, r.text).toBe(201);
    who[role] = await login(`${role}1`, pw[role]);
  }
  const key = await call(
    "POST",
    "/api/identity/me/api-keys",
    { token: who.admin.token },
    {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "monitor", permissions: ["appliance:read"] }),
    },
  );
  expect(key.status).toBe(201);
  readKey = key.body.secret;
}, 90_000);

afterAll(async () => {
  await box?.stop();
  if (box) removeDir(box.dataDir);
});

describe("who may call the appliance API", () => {
  const routes: [string, string][] = [
    ["GET", "/api/appliance/status"],
    ["GET", "/api/appliance/sync"],
    ["GET", "/api/appliance/services/system/logs"],
    ["GET", "/api/appliance/services/system/logs/download"],
    ["POST", "/api/appliance/services/system/restart"],
    ["POST", "/api/appliance/services/system/stop"],
    ["POST", "/api/appliance/services/system/start"],
  ];

  it.each(routes)("%s %s needs credentials (401)", async (method, path) => {
    expectError(await call(method, path), 401, "authentication required");
    expectError(await call(method, path, { token: "not.a.token" }), 401);
    expectError(await call(method, path, { cookie: "forged-session-value" }), 401);
  });

  it("a viewer may neither read (403, needs appliance:read) nor act (403)", async () => {
    const r = await call("GET", "/api/appliance/status", { token: who.viewer.token });
    expectError(r, 403, "permission denied");
    expect(r.body.data).toEqual({ needs: "appliance:read" });
    const sync = await call("GET", "/api/appliance/sync", { token: who.viewer.token });
    expectError(sync, 403, "permission denied");
    expect(sync.body.data).toEqual({ needs: "appliance:read" });
    const w = await call("POST", "/api/appliance/services/system/restart", { token: who.viewer.token });
    expectError(w, 403);
    expect(w.body.data).toEqual({ needs: "appliance:write" });
  });

  it("an API key scoped to appliance:read reads status and logs but cannot restart", async () => {
    expect((await call("GET", "/api/appliance/status", { key: readKey })).status).toBe(200);
    expect((await call("GET", "/api/appliance/sync", { key: readKey })).status).toBe(200);
    expect((await call("GET", "/api/appliance/services/system/logs?lines=1", { key: readKey })).status).toBe(
      200,
    );
    const r = await call("POST", "/api/appliance/services/system/restart", { key: readKey });
    expectError(r, 403);
  });

  it("a cookie session must send its CSRF token to act; reading needs none", async () => {
    const { cookie, csrf } = who.operator;
    expect((await call("GET", "/api/appliance/status", { cookie })).status).toBe(200);
    expectError(await call("POST", "/api/appliance/services/system/restart", { cookie }), 403, "CSRF");
    expectError(
      await call("POST", "/api/appliance/services/system/restart", { cookie, csrf: `${csrf}x` }),
      403,
      "CSRF",
    );
    expectError(
      await call("POST", "/api/appliance/services/system/restart", { cookie, csrf: who.admin.csrf }),
      403,
      "CSRF",
    );
    const ok = await call("POST", "/api/appliance/services/system/restart", { cookie, csrf });
    expect(ok.status, ok.text).toBe(202);
    await waitFor(async () => (await stateOf("system")) === "running", 20_000, "system running");
  });

  it("the name 'appliance' is reserved: no service may take it", async () => {
    const dataDir = tempDir();
    try {
      const config = loadApplianceConfig({ dataDir, port: 0 }, { NEXUS_SERVICES: "identity,appliance" });
      await expect(startAppliance(config, pino({ level: "silent" }))).rejects.toThrow(/reserved/);
    } finally {
      removeDir(dataDir);
    }
  });
});

describe("status", () => {
  it("lists each service with state, uptime, restarts, memory and pid; the box's resources; alerts", async () => {
    const s = await status();
    expect(s.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(s.nats.state).toBe("running");
    const names = s.services.map((x: Body) => x.name).sort();
    expect(names).toEqual(["identity", "system"]);
    for (const svc of s.services) {
      expect(svc.state).toBe("running");
      expect(svc.pid).toBeGreaterThan(0);
      expect(svc.memoryBytes).toBeGreaterThan(10 * 1024 * 1024);
      expect(svc.uptimeSeconds).toBeGreaterThanOrEqual(0);
      expect(svc).not.toHaveProperty("port"); // loopback ports are the gateway's business
    }
    expect(s.box.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(s.box.cpuPercent).toBeLessThanOrEqual(100);
    expect(s.box.memory.totalBytes).toBeGreaterThan(s.box.memory.usedBytes);
    expect(s.box.disk.totalBytes).toBeGreaterThan(0);
    expect(s.box.gpus === null || Array.isArray(s.box.gpus)).toBe(true);
    expect(Array.isArray(s.alerts)).toBe(true);
  });

  it("refuses any query parameter (400), unknown routes and methods (404/405 for admins, 403 below)", async () => {
    expectError(await call("GET", "/api/appliance/status?x=1", who.admin), 400, "invalid request");
    expectError(await call("GET", "/api/appliance/nothing", who.admin), 404, "no such route");
    expectError(await call("GET", "/api/appliance/nothing", { token: who.operator.token }), 403);
    expectError(await call("DELETE", "/api/appliance/status", who.admin), 405, "method not allowed");
    // /internal is never routed, for the gateway's own API either.
    expectError(await call("GET", "/api/appliance/internal/x", who.admin), 404);
  });

  it("streams status over SSE at the asked interval, and many streams opened and closed leave none behind", async () => {
    const t0 = Date.now();
    const events = await readEvents("/api/appliance/events?intervalMs=500", who.admin, (e) => e.length >= 3);
    expect(events.map((e) => e.event)).toEqual(["status", "status", "status"]);
    expect(events[2]!.data.services.length).toBe(2);
    expect(events[2]!.data.sync).toMatchObject({ enrolled: false, link: "not-enrolled", backlog: 0 });
    expect(Date.now() - t0).toBeLessThan(5000);
    // More than the caps (64 on the box, 8 per user), one after another: each closed stream must be released.
    for (let i = 0; i < 70; i++) {
      const e = await readEvents("/api/appliance/events", who.admin, (x) => x.length >= 1);
      expect(e.length).toBe(1);
    }
    for (const bad of ["intervalMs=10", "intervalMs=abc", "intervalMs=1000&intervalMs=2000", "other=1"]) {
      expectError(await call("GET", `/api/appliance/events?${bad}`, who.admin), 400);
    }
  }, 60_000);
});

describe("sync", () => {
  const notEnrolled = {
    enrolled: false,
    site: null,
    hubUrl: null,
    link: "not-enrolled",
    linkTls: null,
    backlog: 0,
    lagSeconds: 0,
    lastAckAt: null,
  };

  it("a box not enrolled: enrolled false, link not-enrolled, nothing waiting; also in /status", async () => {
    const r = await call("GET", "/api/appliance/sync", { token: who.operator.token });
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get("content-type")).toContain("application/json");
    expect(Object.keys(r.body).sort()).toEqual([
      "backlog",
      "enrolled",
      "hubUrl",
      "lagSeconds",
      "lastAckAt",
      "link",
      "linkTls",
      "services",
      "site",
    ]);
    expect(r.body).toMatchObject(notEnrolled);
    expect(Array.isArray(r.body.services)).toBe(true);
    for (const s of r.body.services as Body[]) {
      expect(Object.keys(s).sort()).toEqual([
        "ackedAt",
        "ackedSeq",
        "oldestPendingAt",
        "pending",
        "service",
        "unpublished",
      ]);
    }
    expect((await status()).sync).toMatchObject(notEnrolled);
    expect((await status()).alerts.filter((a: Body) => a.id.startsWith("sync"))).toEqual([]);
    expectError(await call("GET", "/api/appliance/sync?x=1", who.admin), 400, "invalid request");
    expectError(await call("POST", "/api/appliance/sync", who.admin), 405, "method not allowed");
  });

  it("a box enrolled with a hub it cannot reach: site and hub URL, link down", async () => {
    const file = dataPaths(box.dataDir).hubLink;
    expect(existsSync(file)).toBe(false);
    mkdirSync(dirname(file), { recursive: true });
    const link = {
      hubUrl: "https://hub.invalid:7400",
      site: "site-test",
      leafnodeUrl: "nats-leaf://hub.invalid:7422",
      user: "site-test",
      password: "x",
      enrolledAt: new Date().toISOString(),
    };
    writeFileSync(file, JSON.stringify(link), { mode: 0o600 });
    try {
      // The running nats-server was started without the link: it has no leafnode, so the link reads down.
      await waitFor(
        async () => (await call("GET", "/api/appliance/sync", who.admin)).body.enrolled === true,
        5000,
        "enrolled sync status",
      );
      const r = await call("GET", "/api/appliance/sync", who.admin);
      expect(r.body).toMatchObject({
        enrolled: true,
        site: "site-test",
        hubUrl: "https://hub.invalid:7400",
        link: "down",
        linkTls: "none", // a link stored before the hub had TLS
        backlog: 0,
      });
      expect(JSON.stringify(r.body)).not.toContain(link.password);
    } finally {
      rmSync(file, { force: true });
    }
    await waitFor(
      async () => (await call("GET", "/api/appliance/sync", who.admin)).body.enrolled === false,
      5000,
      "not enrolled again",
    );
  });

  it("the backlog alert: a backlog that rises at every sample for 10 minutes warns; one that drains does not", () => {
    const reading = (backlog: number, enrolled = true): SyncStatus => ({
      enrolled,
      site: enrolled ? "s" : null,
      hubUrl: enrolled ? "https://hub" : null,
      link: enrolled ? "down" : "not-enrolled",
      linkTls: enrolled ? "pinned-ca" : null,
      backlog,
      lagSeconds: 0,
      lastAckAt: null,
      services: [],
    });
    const t0 = 1_000_000_000_000;
    let samples = addSample([], reading(1), t0);
    // Readings every 2 s (the console's stream) add one sample a minute at most.
    for (let t = t0; t < t0 + SAMPLE_MS; t += 2000) samples = addSample(samples, reading(2), t);
    expect(samples).toEqual([{ at: t0, pending: 1 }]);
    // A backlog that did not move adds nothing.
    expect(addSample(samples, reading(1), t0 + SAMPLE_MS)).toBe(samples);
    let rising = samples;
    for (let i = 1; i <= 11; i++) rising = addSample(rising, reading(1 + i * 5), t0 + i * SAMPLE_MS);
    const now = t0 + 11 * SAMPLE_MS;
    expect(syncAlerts(rising, now)).toEqual([
      { id: "sync-backlog", level: "warning", message: expect.stringContaining("1 → 56") },
    ]);
    // Only 5 minutes of growth: not yet.
    expect(syncAlerts(rising.slice(0, 6), t0 + 5 * SAMPLE_MS)).toEqual([]);
    // The hub drains it: the rise is broken.
    const drained = addSample(rising, reading(10), now + SAMPLE_MS);
    expect(syncAlerts(drained, now + SAMPLE_MS)).toEqual([]);
    // Not enrolled: changes wait for an enrolment, no samples, no alert.
    expect(addSample(rising, reading(80, false), now + SAMPLE_MS)).toEqual([]);
  });
});

describe("service actions", () => {
  it.each([
    ["/api/appliance/services/System/restart", 400, "invalid service name"],
    ["/api/appliance/services/sys_tem/restart", 400, "invalid service name"],
    [`/api/appliance/services/${"a".repeat(40)}/restart`, 400, "invalid service name"],
    ["/api/appliance/services/%3Cscript%3E/restart", 400, "invalid service name"],
    ["/api/appliance/services/..%2f..%2fetc/restart", 400, "encoded separators"],
    ["/api/appliance/services/nope/restart", 404, "no such service"],
    ["/api/appliance/services/nats/restart", 404, "no such service"],
    ["/api/appliance/services/system/explode", 404, "no such route"],
    ["/api/appliance/services/system/restart?now=1", 400, "invalid request"],
  ])("POST %s → %i", async (path, code, message) => {
    expectError(await call("POST", path, { token: who.admin.token }), code, message);
  });

  it("refuses dot segments fetch would normalise away (raw HTTP)", async () => {
    for (const target of [
      "/api/appliance/services/../identity/restart",
      "/api/appliance/services/%2e%2e/identity/restart",
      "/api/appliance/services/system/logs/../../../secrets",
    ]) {
      const method = target.endsWith("restart") ? "POST" : "GET";
      const r = await rawRequest(
        box.port,
        rawRequestText(method, target, { authorization: `Bearer ${who.admin.token}` }),
      );
      expect(r.response?.status, target).toBe(400);
      expect(JSON.parse(r.response!.body).message).toContain("dot segments");
    }
  });

  it("refuses a request body on actions (400)", async () => {
    const r = await call(
      "POST",
      "/api/appliance/services/system/restart",
      { token: who.admin.token },
      {
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ force: true }),
      },
    );
    expectError(r, 400, "no request body");
  });

  it("refuses to stop identity (409): nobody could log in again", async () => {
    const r = await call("POST", "/api/appliance/services/identity/stop", who.admin);
    expectError(r, 409, "identity cannot be stopped");
    expect(await stateOf("identity")).toBe("running");
  });

  it("stop keeps a service stopped (503 meanwhile) until start; then it serves again", async () => {
    if (SHARED) {
      // system shares its process with identity: stopping it would stop identity too.
      const r = await call("POST", "/api/appliance/services/system/stop", who.admin);
      expectError(r, 409, "stopping it would lock everybody out");
      expect(await stateOf("system")).toBe("running");
      return;
    }
    const stop = await call("POST", "/api/appliance/services/system/stop", who.admin);
    expect(stop.status, stop.text).toBe(202);
    expect(stop.body).toMatchObject({ service: "system", action: "stop", state: "stopped" });
    // The planner must not bring it back by itself.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await stateOf("system")).toBe("stopped");
    expectError(await call("GET", "/api/system/info", who.admin), 503);
    // Stopping again is harmless.
    expect((await call("POST", "/api/appliance/services/system/stop", who.admin)).status).toBe(202);
    const start = await call("POST", "/api/appliance/services/system/start", who.admin);
    expect(start.status).toBe(202);
    await waitFor(async () => (await stateOf("system")) === "running", 20_000, "system running again");
    expect((await call("GET", "/api/system/info", who.admin)).status).toBe(200);
    // Starting a running service changes nothing.
    expect((await call("POST", "/api/appliance/services/system/start", who.admin)).status).toBe(202);
    expect(await stateOf("system")).toBe("running");
  }, 60_000);

  it("concurrent restarts leave one running process", async () => {
    const before = (await status()).services.find((s: Body) => s.name === "system");
    const results = await Promise.all(
      Array.from({ length: 6 }, () => call("POST", "/api/appliance/services/system/restart", who.admin)),
    );
    expect(results.map((r) => r.status)).toEqual(Array(6).fill(202));
    await waitFor(
      async () => (await stateOf("system")) === "running",
      30_000,
      "system running after restarts",
    );
    await new Promise((r) => setTimeout(r, 1000));
    const after = (await status()).services.find((s: Body) => s.name === "system");
    expect(after.state).toBe("running");
    expect(after.pid).not.toBe(before.pid);
    expect(after.restarts).toBeGreaterThan(before.restarts);
    expect((await call("GET", "/api/system/info", who.admin)).status).toBe(200);
  }, 60_000);
});

describe("logs", () => {
  it("tails the last lines, filtered case-insensitively as plain text", async () => {
    const tail = await call("GET", "/api/appliance/services/system/logs?lines=5", who.admin);
    expect(tail.status).toBe(200);
    expect(tail.body.lines.length).toBeGreaterThan(0);
    expect(tail.body.lines.length).toBeLessThanOrEqual(5);
    const f = await call("GET", "/api/appliance/services/system/logs?lines=50&filter=LISTENING", who.admin);
    expect(f.body.lines.length).toBeGreaterThan(0);
    for (const l of f.body.lines) expect(l.toLowerCase()).toContain("listening");
    // Regular-expression syntax is just text: no match, and no catastrophic backtracking.
    const re = await call(
      "GET",
      `/api/appliance/services/system/logs?filter=${encodeURIComponent("(a+)+$")}`,
      who.admin,
    );
    expect(re.body.lines).toEqual([]);
    const nats = await call("GET", "/api/appliance/services/nats/logs?lines=3", who.admin);
    expect(nats.status).toBe(200);
  });

  it.each([
    ["lines=0", 400],
    ["lines=5001", 400],
    ["lines=abc", 400],
    ["lines=1&lines=2", 400],
    [`filter=${"x".repeat(201)}`, 400],
    ["unknown=1", 400],
  ])("refuses ?%s", async (q, code) => {
    expectError(await call("GET", `/api/appliance/services/system/logs?${q}`, who.admin), code);
  });

  it("refuses names that are not services, and never reads outside the logs folder", async () => {
    expectError(await call("GET", "/api/appliance/services/nope/logs", who.admin), 404);
    expectError(await call("GET", "/api/appliance/services/..%2Fsecrets/logs", who.admin), 400);
    expectError(await call("GET", "/api/appliance/services/passwd%00/logs", who.admin), 400);
    expectError(await call("GET", "/api/appliance/services/.env/logs", who.admin), 400);
  });

  it("downloads a log as a text attachment", async () => {
    const r = await call("GET", "/api/appliance/services/system/logs/download", who.admin);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(r.headers.get("content-disposition")).toMatch(/^attachment; filename="system-[\d-]+\.log"$/);
    expect(r.text).toContain('"service":"system"');
  });

  it("follows a log live over SSE: the tail first, then new lines that match the filter", async () => {
    const marker = `marker-${Date.now()}`;
    const events = readEvents(
      `/api/appliance/services/system/logs/follow?lines=2&filter=${marker}`,
      who.admin,
      (e) => e.some((x) => x.data.lines.some((l: string) => l.includes(marker))),
      15_000,
    );
    await new Promise((r) => setTimeout(r, 500));
    // A request to the system service writes a log line holding its request id.
    await call("GET", "/api/system/time", who.admin, { headers: { "x-request-id": marker } });
    const got = await events;
    expect(got[0]!.event).toBe("lines");
    expect(got[0]!.data.lines).toEqual([]); // nothing matched the marker before
    expect(got.flatMap((e) => e.data.lines).some((l: string) => l.includes(marker))).toBe(true);
  }, 30_000);
});

describe("one error path: 405 with Allow, malformed input, the OpenAPI document", () => {
  it.each([
    ["DELETE", "/api/appliance/status", "GET, HEAD"],
    ["PUT", "/api/appliance/events", "GET, HEAD"],
    ["GET", "/api/appliance/services/system/restart", "POST"],
    ["DELETE", "/api/appliance/services/system/logs", "GET, HEAD"],
  ])("%s %s → 405 with Allow: %s", async (method, path, allow) => {
    const r = await call(method, path, who.admin);
    expectError(r, 405, "method not allowed");
    expect(r.headers.get("allow")).toBe(allow);
    // The permission check comes first: below admin, a method no rule grants stays 403.
    expectError(await call(method, path, { token: who.operator.token }), 403);
  });

  it("malformed input is 400 in the one shape, and changes nothing", async () => {
    const rows = async () =>
      ((await status()).services as Body[]).map(({ name, pid, restarts, state }) => ({
        name,
        pid,
        restarts,
        state,
      }));
    const before = await rows();
    const big: RequestInit = { headers: { "content-type": "text/plain" }, body: "x".repeat(256 * 1024) };
    const cases: [string, string, string, RequestInit?][] = [
      ["POST", "/api/appliance/services/System/stop", "invalid service name"],
      ["POST", `/api/appliance/services/${"s".repeat(33)}/restart`, "invalid service name"],
      ["POST", "/api/appliance/services/system/stop?force=1", "invalid request"],
      ["POST", "/api/appliance/services/system/restart?now=1&now=1", "repeated"],
      ["POST", "/api/appliance/services/system/stop", "no request body", big],
      ["POST", `/api/appliance/services/system/restart?${"q".repeat(5000)}`, "too long"],
      ["GET", "/api/appliance/services/system/logs?lines=-1", "invalid request"],
      ["GET", "/api/appliance/services/system/logs?lines=1.5", "invalid request"],
      ["GET", "/api/appliance/services/system/logs?lines=", "invalid request"],
      ["GET", "/api/appliance/events?intervalMs=1e9", "invalid request"],
      ["GET", `/api/appliance/services/system/logs/follow?filter=${"x".repeat(201)}`, "invalid request"],
      ["GET", "/api/appliance/services/system/logs/download?lines=5", "invalid request"],
    ];
    for (const [method, path, message, init] of cases) {
      const r = await call(method, path, who.admin, init);
      expectError(r, 400, message);
      if (message === "invalid request") expect(r.body.data.issues.length, path).toBeGreaterThan(0);
    }
    expect(await rows()).toEqual(before);
  });

  it("HEAD on a live stream answers its headers and holds no stream slot", async () => {
    // More than the per-user cap (8): a HEAD that kept a slot would leave none for the stream below.
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`${box.url}/api/appliance/events`, {
        method: "HEAD",
        headers: { authorization: `Bearer ${who.admin.token}` },
      });
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toContain("text/event-stream");
    }
    expect((await readEvents("/api/appliance/events", who.admin, (e) => e.length >= 1)).length).toBe(1);
  });

  it("the answers match the schemas the OpenAPI document gives", async () => {
    expect(statusSchema.strict().safeParse(await status()).error).toBeUndefined();
    const sync = (await call("GET", "/api/appliance/sync", who.admin)).body;
    expect(syncSchema.strict().safeParse(sync).error).toBeUndefined();
  });

  it("/api/openapi.json has the gateway's own paths: ids, tag, schemas, the one error shape, security", async () => {
    const r = await call("GET", "/api/openapi.json", who.admin);
    expect(r.status).toBe(200);
    const doc = r.body;
    const ops = Object.entries(doc.paths as Record<string, Record<string, Body>>).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({ at: `${method} ${path}`, op })),
    );
    const own = ops.filter((o) => o.op.tags?.includes("appliance"));
    expect(own.map((o) => o.at).sort()).toEqual([
      "get /api/appliance/backups",
      "get /api/appliance/backups/jobs/{id}",
      "get /api/appliance/events",
      "get /api/appliance/services/{name}/logs",
      "get /api/appliance/services/{name}/logs/download",
      "get /api/appliance/services/{name}/logs/follow",
      "get /api/appliance/status",
      "get /api/appliance/sync",
      "get /health",
      "get /metrics",
      "get /ready",
      "post /api/appliance/backups",
      "post /api/appliance/backups/prune",
      "post /api/appliance/backups/{id}/restore-dry-run",
      "post /api/appliance/backups/{id}/verify",
      "post /api/appliance/services/{name}/restart",
      "post /api/appliance/services/{name}/start",
      "post /api/appliance/services/{name}/stop",
    ]);
    const ids = ops.map((o) => o.op.operationId).filter(Boolean);
    expect(new Set(ids).size).toBe(ids.length);
    // The kit's schemes, scoped by the permission the gateway's access rule needs; cookie sessions send the
    // CSRF header on POST.
    const caller = (at: string) => {
      const scope = at.startsWith("post") ? ["appliance:write"] : ["appliance:read"];
      const session = at.startsWith("post") ? { session: scope, csrf: [] } : { session: scope };
      return [{ bearer: scope }, { apiKey: scope }, session];
    };
    for (const { at, op } of own) {
      expect(op.operationId, at).toMatch(/^(appliance|gateway)[A-Z]/);
      expect(op.security, at).toEqual(at.endsWith("/health") || at.endsWith("/ready") ? [] : caller(at));
      for (const [code, res] of Object.entries(op.responses as Record<string, Body>)) {
        // /ready's 503 is its readiness body, not an error.
        if ((Number(code) >= 400 || code === "default") && !(at.endsWith("/ready") && code === "503"))
          expect(res.content["application/json"].schema, `${at} ${code}`).toEqual({
            $ref: "#/components/schemas/ErrorBody",
          });
      }
    }
    expect(
      doc.paths["/api/appliance/status"].get.responses["200"].content["application/json"].schema,
    ).toEqual({
      $ref: "#/components/schemas/ApplianceStatus",
    });
    expect(doc.components.schemas.ApplianceStatus.required).toEqual(
      expect.arrayContaining(["services", "box", "alerts", "sync"]),
    );
    expect(Object.keys(doc.components.schemas.ErrorBody.properties).sort()).toEqual([
      "data",
      "message",
      "status",
    ]);
    const restart = doc.paths["/api/appliance/services/{name}/restart"].post;
    expect(Object.keys(restart.responses)).toEqual(
      expect.arrayContaining(["202", "400", "404", "405", "409"]),
    );
    expect(restart.parameters).toEqual([
      expect.objectContaining({ name: "name", in: "path", required: true }),
    ]);
    const logs = doc.paths["/api/appliance/services/{name}/logs"].get.parameters.map((p: Body) => p.name);
    expect(logs.sort()).toEqual(["filter", "lines", "name"]);
    expect(doc.components.securitySchemes).toMatchObject({
      bearer: { type: "http", scheme: "bearer" },
      apiKey: { type: "apiKey", in: "header", name: "x-api-key" },
      session: { type: "apiKey", in: "cookie", name: "nexus_session" },
      csrf: { type: "apiKey", in: "header", name: "x-csrf-token" },
    });
    // The services' own paths are still there.
    expect(doc.paths["/api/identity/login"]).toBeDefined();
  });
});
