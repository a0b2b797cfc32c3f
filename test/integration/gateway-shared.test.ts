/**
 * The gateway in shared isolation: the supervisor keeps the public port and hands connections to the shared
 * host, whose gateway checks each request and calls the service's app in-process (appliance/host/gateway.ts).
 * The same behaviour as the proxied path, against real identity, files and echo in one host process; then
 * kill -9 of that host: the supervisor restarts it and the gateway answers again.
 */
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GatewayCounts } from "../../appliance/gateway/metrics.js";
import { askChild, GATEWAY_METRICS } from "../../appliance/host/gateway-ipc.js";
import { SHARED_UNIT } from "../../appliance/supervisor/units.js";
import { removeDir, startTestAppliance, type TestAppliance, waitFor } from "../helpers/appliance.js";
import { enc, filesCall } from "../helpers/files.js";
import { addPerson, type Person, setupAdmin } from "../helpers/people.js";
import { rawRequest, rawRequestText } from "../helpers/raw-http.js";

type Json = Record<string, unknown>;
const RATE_MAX = 100;
const ORIGIN = "https://console.example";
const LIMIT = 1024 * 1024;

let app: TestAppliance;
let admin: Person;
let vera: Person;

beforeAll(async () => {
  app = await startTestAppliance({
    services: ["identity", "files", "echo"],
    isolation: "shared",
    env: {
      NEXUS_GATEWAY_RATE_LIMIT_MAX: String(RATE_MAX),
      NEXUS_GATEWAY_BODY_LIMIT_BYTES: String(LIMIT),
      NEXUS_CORS_ALLOWED_ORIGINS: ORIGIN,
    },
  });
  await waitFor(() => app.supervisor.gatewayHost(), 20_000, "the shared host's gateway");
  admin = await setupAdmin(app);
  vera = await addPerson(app, admin, "vera", ["viewer"]);
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
});

const as = (p: Person | null, init: RequestInit = {}) => ({
  ...init,
  headers: { ...(p ? { authorization: `Bearer ${p.token}` } : {}), ...(init.headers as Json) },
});
const call = (path: string, p: Person | null = admin, init: RequestInit = {}) =>
  fetch(`${app.url}${path}`, as(p, init));

/** The shared host gateway's own counts (asked over IPC): proves a request was answered there. */
async function hostCounts(): Promise<Map<string, number>> {
  const host = app.supervisor.gatewayHost();
  expect(host, "shared host's gateway").not.toBeNull();
  const counts = await askChild<GatewayCounts>(host!, GATEWAY_METRICS, 5000);
  return new Map(counts?.requests ?? []);
}
const echoOk = (m: Map<string, number>) => m.get("echo\u0000GET\u0000200") ?? 0;

/** A request body sent in chunks (no content-length). */
function streamOf(chunks: Buffer[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(c) {
      const next = chunks.shift();
      if (next) c.enqueue(next);
      else c.close();
    },
  });
}

function expectShape(body: Json, status: number, message?: string) {
  expect(Object.keys(body).sort()).toEqual(["data", "message", "status"]);
  expect(body.status).toBe(status);
  if (message) expect(body.message).toContain(message);
}

describe("gateway in the shared host", () => {
  it("answers a service's request in the shared host, not through the supervisor", async () => {
    const before = echoOk(await hostCounts());
    const res = await call("/api/echo/hello");
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).hello).toBe("world");
    expect(echoOk(await hostCounts())).toBe(before + 1);
  });

  it("requires authentication: 401 in the one error shape, unknown and known services alike", async () => {
    for (const path of ["/api/echo/hello", "/api/nope/x"]) {
      const res = await call(path, null);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
      expectShape((await res.json()) as Json, 401, "authentication required");
    }
    const forged = await call("/api/echo/hello", null, { headers: { authorization: "Bearer nope" } });
    expect(forged.status).toBe(401);
  });

  it("checks permissions: a viewer may read but not write files (403 with the permission needed)", async () => {
    expect((await call("/api/files/spaces", vera)).status).toBe(200);
    const res = await call(`/api/files/spaces/me/content/x.txt`, vera, { method: "PUT", body: "x" });
    expect(res.status).toBe(403);
    const body = (await res.json()) as Json;
    expectShape(body, 403, "permission denied");
    expect(body.data).toEqual({ needs: "files:write" });
  });

  it("404 names an unknown service; a service's own 404 keeps the shape", async () => {
    const res = await call("/api/nope/x");
    expect(res.status).toBe(404);
    const body = (await res.json()) as Json;
    expectShape(body, 404, "no such service");
    expect(body.data).toEqual({ service: "nope" });
    const route = await call("/api/echo/no/such/route");
    expect(route.status).toBe(404);
    expectShape((await route.json()) as Json, 404);
  });

  it("request ids: the client's is kept and is the one the service sees; else a fresh one", async () => {
    const res = await call("/api/echo/headers", admin, {
      headers: { "x-request-id": "shared-1", "x-nexus-principal": '{"id":"forged"}', cookie: "a=b" },
    });
    expect(res.headers.get("x-request-id")).toBe("shared-1");
    const seen = (await res.json()) as Record<string, string>;
    expect(seen["x-request-id"]).toBe("shared-1");
    // Credentials stop at the gateway; the principal is the gateway's, never the client's.
    expect(seen.authorization).toBeUndefined();
    expect(seen.cookie).toBeUndefined();
    expect(JSON.parse(seen["x-nexus-principal"]!).username).toBe("admin");
    const fresh = await call("/api/nope/x", null);
    expect(fresh.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("streams an upload to files and back; a body over a route's limit is refused with 413", async () => {
    const data = Buffer.alloc(3 * 1024 * 1024, "nexus ");
    const body = streamOf([data.subarray(0, 1e6), data.subarray(1e6)]);
    const put = await call(`/api/files/spaces/me/content/${enc("up/big.bin")}`, admin, {
      method: "PUT",
      body,
      duplex: "half",
    } as RequestInit);
    expect(put.status, await put.clone().text()).toBeLessThan(300);
    const got = await filesCall(app, admin.token, "GET", `/spaces/me/content/${enc("up/big.bin")}`);
    expect(got.status).toBe(200);
    expect(got.text.length).toBe(data.length);
    expect(got.text === data.toString()).toBe(true);

    const tooBig = await call("/api/echo/items", admin, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ body: "x".repeat(2 * 1024 * 1024) }),
    });
    expect(tooBig.status).toBe(413);
    expectShape((await tooBig.json()) as Json, 413);
    // Chunked, no content-length: cut off while it streams in; nothing stored.
    const chunked = await call("/api/echo/items", admin, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: streamOf([Buffer.from('{"body":"'), Buffer.alloc(LIMIT, "y"), Buffer.from('"}')]),
      duplex: "half",
    } as RequestInit).catch(() => null);
    if (chunked) expect(chunked.status).toBe(413);
    const ok = await call("/api/echo/items", admin, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ body: "fits" }),
    });
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as { id: number }).id).toBe(1);
  });

  it("streams server-sent events as they are written", async () => {
    const res = await call("/api/echo/events?n=3");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const text = await res.text();
    expect(text.match(/event: tick/g)?.length).toBe(3);
  });

  it("answers CORS preflights itself: 204 for an allowed origin, 403 in the shape otherwise", async () => {
    const pre = (origin: string) =>
      call("/api/echo/hello", null, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "GET" },
      });
    const ok = await pre(ORIGIN);
    expect(ok.status).toBe(204);
    expect(ok.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    const refused = await pre("https://evil.example");
    expect(refused.status).toBe(403);
    expectShape((await refused.json()) as Json, 403, "origin not allowed");
  });

  it("hands the appliance API, /health and /ready to the supervisor's gateway", async () => {
    const status = await call("/api/appliance/status");
    expect(status.status).toBe(200);
    const services = ((await status.json()) as { services: { name: string; state: string }[] }).services;
    expect(services.map((s) => s.state)).toEqual(["running", "running", "running"]);
    expect((await call("/api/appliance/status", null)).status).toBe(401);
    expect((await call("/health", null)).status).toBe(200);
    expect((await call("/ready", null)).status).toBe(200);
  });

  it("/metrics counts the requests answered in the shared host and its rejections", async () => {
    const text = await (await call("/metrics")).text();
    const echo200 = text.match(
      /^nexus_http_requests_total\{service="echo",method="GET",code="200"\} (\d+)$/m,
    );
    expect(Number(echo200?.[1])).toBeGreaterThanOrEqual(echoOk(await hostCounts()));
    expect(text).toMatch(/^nexus_gateway_rejected_total\{reason="unauthenticated"\} [1-9]/m);
    expect(text).toMatch(/^nexus_gateway_rejected_total\{reason="forbidden"\} [1-9]/m);
  });

  it("rate-limits per client address (429 with retry-after); other addresses are unaffected", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.get(
          `${app.url}/api/echo/public/hello`,
          { agent, localAddress: "127.0.0.7" },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res));
          },
        );
        req.on("error", reject);
      });
    let limited: http.IncomingMessage | null = null;
    for (let i = 0; i <= RATE_MAX && !limited; i++) {
      const res = await get();
      if (res.statusCode === 429) limited = res;
    }
    agent.destroy();
    expect(limited, "never rate limited").not.toBeNull();
    expect(Number(limited!.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect((await call("/api/echo/hello")).status).toBe(200);
  });
});

/** GET over `agent` (one socket): status, and whether it went over an existing connection, which port. */
function agentGet(agent: http.Agent, path: string) {
  return new Promise<{ status: number; reused: boolean; localPort: number }>((resolve, reject) => {
    const req = http.get(
      `${app.url}${path}`,
      { agent, headers: { authorization: `Bearer ${admin.token}` } },
      (res) => {
        res.resume();
        res.once("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            reused: req.reusedSocket,
            localPort: req.socket!.localPort!,
          }),
        );
      },
    );
    req.once("error", reject);
  });
}

describe("restart of the shared host", () => {
  it("an idle keep-alive connection is handed back to the supervisor, not reset; a closed one closes", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await agentGet(agent, "/api/echo/hello");
      expect(first.status).toBe(200);
      const before = echoOk(await hostCounts());
      expect(before).toBeGreaterThan(0);
      const pid = app.supervisor.gatewayHost()?.pid;
      await app.supervisor.restartUnit(SHARED_UNIT);
      await waitFor(
        () => app.supervisor.gatewayHost() && app.supervisor.gatewayHost()?.pid !== pid,
        60_000,
        "the restarted host",
      );
      // The same connection, still open: now the supervisor's gateway serves it (proxied to the new host).
      const again = await agentGet(agent, "/api/echo/hello");
      expect(again).toEqual({ status: 200, reused: true, localPort: first.localPort });
      expect(echoOk(await hostCounts())).toBe(0);
    } finally {
      agent.destroy();
    }
    // A connection the host ends itself is closed for the client too (the supervisor drops its copy).
    const closing = await rawRequest(
      app.port,
      rawRequestText("GET", "/api/echo/hello", {
        authorization: `Bearer ${admin.token}`,
        connection: "close",
      }),
      { untilClose: true, timeoutMs: 5000 },
    );
    expect(closing.response?.status).toBe(200);
    expect(closing.closed).toBe(true);
    expect(echoOk(await hostCounts())).toBe(1);
  }, 90_000);
});

describe("kill -9 of the shared host", () => {
  it("the supervisor restarts it and the gateway answers again, in the new host", async () => {
    const pid = app.supervisor.status().find((s) => s.name === "echo")?.pid;
    expect(pid).toBeTypeOf("number");
    process.kill(pid!, "SIGKILL");
    await waitFor(() => !app.supervisor.gatewayHost(), 10_000, "the supervisor to see the host gone");
    // Meanwhile the supervisor answers connections itself (the proxy path): 503 in the shape until it is back.
    const during = await rawRequest(
      app.port,
      rawRequestText("GET", "/api/echo/public/hello", { connection: "close" }),
    );
    if (during.response?.status !== 200) {
      expect(during.response?.status).toBe(503);
      expectShape(JSON.parse(during.response!.body) as Json, 503, "service unavailable");
    }
    await waitFor(
      async () => (await call("/api/echo/hello")).status === 200 && app.supervisor.gatewayHost(),
      60_000,
      "the restarted host to answer",
    );
    const now = app.supervisor.status().find((s) => s.name === "echo");
    expect(now?.pid).not.toBe(pid);
    expect(now?.restarts).toBeGreaterThanOrEqual(1);
    // A connection made while the host was down stays with the supervisor's gateway; new ones go to the host.
    const before = echoOk(await hostCounts());
    const res = await rawRequest(
      app.port,
      rawRequestText("GET", "/api/echo/hello", {
        authorization: `Bearer ${admin.token}`,
        connection: "close",
      }),
    );
    expect(res.response?.status).toBe(200);
    expect(echoOk(await hostCounts())).toBe(before + 1);
  }, 90_000);
});
