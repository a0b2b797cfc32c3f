/**
 * Bad and hostile input through the gateway, against a real supervisor, nats-server and service processes.
 * Raw request targets and broken framing go over plain sockets (../helpers/raw-http.ts): fetch would
 * normalise `..` away and refuses to send most of these. All traffic stays on 127.0.0.1. The last block runs
 * the gateway in this process in front of a raw TCP "service" that breaks HTTP in ways no real one can on cue.
 */
import http, { type Server } from "node:http";
import net, { type AddressInfo } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GatewayConfig, gatewayConfigSchema } from "../../appliance/config/schema.js";
import { bootstrapTokenAuth, createGateway, GatewayMetrics } from "../../appliance/gateway/index.js";
import { removeDir, startTestAppliance, type TestAppliance, waitFor } from "../helpers/appliance.js";
import { type RawResult, rawExchange, rawRequest, rawRequestText, sleep } from "../helpers/raw-http.js";

type Json = Record<string, unknown>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DOTS = "dot segments are not allowed in paths";
const SEPARATORS = "encoded separators are not allowed in paths";
const MALFORMED = "malformed percent-encoding in path";
const CONTROL = "control characters in path";
const TOO_LONG = "request target too long";

/** Asserts the one wire error shape `{ status, message, data }`. */
function expectErrorShape(body: unknown, status: number, message?: string): void {
  expect(body).toBeTypeOf("object");
  expect(Object.keys(body as Json).sort()).toEqual(["data", "message", "status"]);
  const b = body as Json;
  expect(b.status).toBe(status);
  expect(b.message).toBeTypeOf("string");
  if (message !== undefined) expect(b.message).toContain(message);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`not JSON: ${text.slice(0, 200)}`);
  }
}

/** Sums every sample of `name` whose labels include `labels` in a Prometheus text exposition. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

async function metricsText(a: TestAppliance): Promise<string> {
  const res = await a.api("/metrics");
  expect(res.status).toBe(200);
  return res.text();
}

/** Requests the gateway proxied to `services` so far (any status). */
async function proxied(a: TestAppliance, services = ["echo", "system"]): Promise<number> {
  const text = await metricsText(a);
  return services.reduce((n, s) => n + metric(text, "nexus_http_requests_total", { service: s }), 0);
}

/** fetch without the admin token. */
function anon(a: TestAppliance, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${a.url}${path}`, init);
}

/** One raw request with the admin token. */
function raw(
  a: TestAppliance,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body = "",
) {
  const text = rawRequestText(method, target, { authorization: `Bearer ${a.token}`, ...headers }, body);
  return rawRequest(a.port, text, { head: method === "HEAD" });
}

/** A test name for a request target that may be kilobytes long. */
const label = (target: string) =>
  target.length > 80 ? `${target.slice(0, 40)}… (${target.length} chars)` : target;

function expectRawError(r: RawResult, status: number, message?: string): void {
  expect(r.response, `no response; got ${JSON.stringify(r.raw.slice(0, 200))} (${r.error})`).not.toBeNull();
  expect(r.response!.status).toBe(status);
  expectErrorShape(parseJson(r.response!.body), status, message);
}

async function settingKeys(a: TestAppliance): Promise<string[]> {
  const res = await a.api("/api/system/settings");
  expect(res.status).toBe(200);
  const { settings } = (await res.json()) as { settings: { key: string }[] };
  return settings.map((s) => s.key);
}

async function expectAllReady(a: TestAppliance): Promise<void> {
  const ready = await anon(a, "/ready");
  expect(ready.status).toBe(200);
  expect(((await ready.json()) as Json).status).toBe("ready");
  for (const s of a.supervisor.status()) {
    expect(s.state, s.name).toBe("running");
    expect(s.restarts, s.name).toBe(0);
  }
}

function putSetting(a: TestAppliance, key: string, body: string, contentType = "application/json") {
  return a.api(`/api/system/settings/${key}`, {
    method: "PUT",
    body,
    headers: { "content-type": contentType },
  });
}

describe("gateway with default limits (echo + system)", () => {
  let app: TestAppliance;
  beforeAll(async () => {
    app = await startTestAppliance({ services: ["echo", "system"] });
  });
  afterAll(async () => {
    if (app) {
      await app.stop();
      removeDir(app.dataDir);
    }
  });

  describe("authentication", () => {
    const flipLast = (t: string) => `${t.slice(0, -1)}${t.endsWith("A") ? "B" : "A"}`;
    const BAD_AUTH: [name: string, headers: (token: string) => Record<string, string>][] = [
      ["no authorization header", () => ({})],
      ["empty bearer", () => ({ authorization: "Bearer " })],
      ["bearer of spaces", () => ({ authorization: "Bearer      " })],
      ["wrong token", () => ({ authorization: "Bearer not-the-token" })],
      ["token one character short", (t) => ({ authorization: `Bearer ${t.slice(0, -1)}` })],
      ["token one character long", (t) => ({ authorization: `Bearer ${t}x` })],
      ["same length, last character changed", (t) => ({ authorization: `Bearer ${flipLast(t)}` })],
      ["token twice", (t) => ({ authorization: `Bearer ${t}${t}` })],
      ["token without a scheme", (t) => ({ authorization: t })],
      ["Basic scheme", (t) => ({ authorization: `Basic ${Buffer.from(`admin:${t}`).toString("base64")}` })],
      ["token in other headers", (t) => ({ "x-api-key": t, cookie: `token=${t}`, "x-auth-token": t })],
      ["8 KB token", () => ({ authorization: `Bearer ${"a".repeat(8000)}` })],
      [
        "forged principal header",
        () => ({ "x-nexus-principal": JSON.stringify({ id: "x", roles: ["admin"], via: "token" }) }),
      ],
    ];

    it.each(BAD_AUTH)("%s → 401 with the error shape, nothing reaches a service", async (_name, headers) => {
      const before = await proxied(app);
      const h = headers(app.token);
      const requests: [string, string, string | undefined][] = [
        ["GET", "/api/echo/hello", undefined],
        ["POST", "/api/echo/items", JSON.stringify({ body: "sneaky" })],
        ["PUT", "/api/system/settings/auth.probe", JSON.stringify({ value: "sneaky" })],
        ["DELETE", "/api/system/settings/auth.probe", undefined],
      ];
      for (const [method, path, body] of requests) {
        const res = await anon(app, path, {
          method,
          body,
          headers: { ...h, ...(body ? { "content-type": "application/json" } : {}) },
        });
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(res.headers.get("www-authenticate")).toBe("Bearer");
        expect(res.headers.get("x-request-id")).toMatch(UUID);
        expectErrorShape(await res.json(), 401, "authentication required");
      }
      expect(await proxied(app)).toBe(before);
      expect((await app.api("/api/system/settings/auth.probe")).status).toBe(404);
    });

    it("does not take the token from the query string", async () => {
      const res = await anon(app, `/api/echo/hello?token=${app.token}&access_token=${app.token}`);
      expect(res.status).toBe(401);
    });

    it("accepts the right token (control)", async () => {
      const res = await app.api("/api/echo/hello");
      expect(res.status).toBe(200);
      const body = (await res.json()) as { hello: string; principal: string };
      expect(body.hello).toBe("world");
      expect(JSON.parse(body.principal)).toEqual({
        id: "bootstrap-admin",
        roles: ["admin"],
        permissions: ["*"],
        via: "bootstrap-token",
      });
    });
  });

  describe("the gateway's own routes", () => {
    const OWN: [method: string, path: string, authed: boolean, status: number][] = [
      ["GET", "/health", false, 200],
      ["HEAD", "/health", false, 200],
      ["GET", "/health?x=../../etc/passwd", false, 200],
      ["GET", "/ready", false, 200],
      ["GET", "/", false, 200],
      ["GET", "/favicon.ico", false, 404],
      ["GET", "/metrics", false, 401],
      ["GET", "/metrics", true, 200],
      ["GET", "/api/openapi.json", false, 401],
      ["GET", "/api/openapi.json", true, 200],
      ["POST", "/health", false, 405],
      ["DELETE", "/metrics", true, 405],
      ["PUT", "/api/openapi.json", true, 405],
      ["GET", "/nope", false, 401],
      ["GET", "/nope", true, 404],
      ["GET", "/apix/echo/hello", true, 404],
    ];
    it.each(OWN)("%s %s (token: %s) → %i", async (method, path, authed, status) => {
      const res = await (authed ? app.api : (p: string, i: RequestInit) => anon(app, p, i))(path, { method });
      expect(res.status).toBe(status);
      const text = await res.text();
      if (status >= 400 && method !== "HEAD") expectErrorShape(parseJson(text), status);
    });

    it("/health and /ready say what they should", async () => {
      expect(await (await anon(app, "/health")).json()).toMatchObject({ status: "ok" });
      expect(await (await anon(app, "/ready")).json()).toEqual({
        status: "ready",
        services: { echo: "ready", system: "ready" },
      });
    });
  });

  describe("routing", () => {
    const UNKNOWN: [path: string, authed: boolean][] = [
      ["/api/nope/x", true],
      ["/api/crasher/x", true],
      ["/api/dependent/ok", true],
      ["/api/Echo/hello", true],
      ["/api/ECHO/hello", true],
      ["/api/e/hello", true],
      ["/api/echo_1/hello", true],
      ["/api/%65cho/hello", true],
      ["/api/", true],
      ["/api//echo/hello", true],
      [`/api/${"s".repeat(40)}/x`, true],
    ];
    it.each(UNKNOWN)("%s (token: %s) → 404 no such service", async (path, authed) => {
      const before = await proxied(app);
      const res = authed ? await app.api(path) : await anon(app, path);
      expect(res.status).toBe(404);
      expectErrorShape(await res.json(), 404, "no such service");
      expect(await proxied(app)).toBe(before);
    });

    it("answers an anonymous caller 401 for unknown and known services alike (names are not revealed)", async () => {
      for (const path of ["/api/nope/x", "/api/echo/hello"]) {
        const res = await anon(app, path);
        expect(res.status).toBe(401);
        expectErrorShape(await res.json(), 401, "authentication required");
      }
    });

    it("does not forward credentials to services and accepts a lower-case bearer scheme", async () => {
      const res = await fetch(`${app.url}/api/echo/headers`, {
        headers: { authorization: `bearer ${app.token}`, cookie: "nexus_session=abc" },
      });
      expect(res.status).toBe(200);
      const seen = (await res.json()) as Record<string, string>;
      expect(seen.authorization).toBeUndefined();
      expect(seen.cookie).toBeUndefined();
      expect(JSON.parse(seen["x-nexus-principal"]!)).toMatchObject({ id: "bootstrap-admin" });
    });

    it("names the unknown service in data", async () => {
      expect(await (await app.api("/api/nope/x")).json()).toEqual({
        status: 404,
        message: "no such service",
        data: { service: "nope" },
      });
    });

    it("hands the service only its own path, and its 404 keeps the shape", async () => {
      const res = await app.api("/api/echo/nope?x=1");
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ status: 404, message: "no such route", data: { path: "/nope" } });
    });
  });

  describe("path traversal and encoding (raw request targets)", () => {
    const TRAVERSAL: [target: string, message: string][] = [
      ["/api/echo/../system/settings", DOTS],
      ["/api/echo/../../metrics", DOTS],
      ["/api/../metrics", DOTS],
      ["/api/echo/./hello", DOTS],
      ["/api/system/settings/..", DOTS],
      ["/api/echo/%2e%2e/system/settings", DOTS],
      ["/api/echo/%2E%2E/system/settings", DOTS],
      ["/api/echo/.%2e/system/settings", DOTS],
      ["/api/system/settings/%2e%2e", DOTS],
      ["/api/echo/..%2fsystem%2fsettings", SEPARATORS],
      ["/api/echo/%2F..%2F..%2Fetc%2Fpasswd", SEPARATORS],
      ["/api/echo/..%5c..%5csystem", SEPARATORS],
      ["/api/echo/..%5C..%5Csystem", SEPARATORS],
      ["/api/echo/..\\..\\system\\settings", SEPARATORS],
      ["/api/echo/hello%00", SEPARATORS],
      ["/api/echo/hello%00.json", SEPARATORS],
      ["/api/echo/%zz", MALFORMED],
      ["/api/echo/%", MALFORMED],
      ["/api/echo/%c0%ae%c0%ae/system", MALFORMED],
      ["/api/echo/a%0d%0aX-Injected:%201", CONTROL],
      ["/api/echo/%7f", CONTROL],
      [`/api/echo/${"a".repeat(5000)}`, TOO_LONG],
      [`/api/echo/hello?${"q".repeat(5000)}`, TOO_LONG],
    ];

    it.each(TRAVERSAL.map(([t, m]) => [label(t), t, m]))(
      "%s → 400, nothing reaches a service",
      async (_l, target, message) => {
        const before = await proxied(app);
        const r = await raw(app, "GET", target);
        expectRawError(r, 400, message);
        expect(r.response!.headers["x-request-id"]).toMatch(UUID);
        expect(await proxied(app)).toBe(before);
      },
    );

    it("refuses traversal for every method and without a token too", async () => {
      for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]) {
        const r = await raw(app, method, "/api/echo/../system/settings/x", {
          "content-type": "application/json",
        });
        expect(r.response?.status, method).toBe(400);
        const noToken = await rawRequest(
          app.port,
          rawRequestText(method, "/api/echo/%2e%2e/system/settings"),
          {
            head: method === "HEAD",
          },
        );
        expect(noToken.response?.status, method).toBe(400);
      }
    });

    const CONTROLS: [target: string, status: number, check: (body: Json) => void][] = [
      ["/api/echo/hello", 200, (b) => expect(b.hello).toBe("world")],
      ["/api/echo/hello?x=../../metrics&y=%2e%2e%2f", 200, (b) => expect(b.hello).toBe("world")],
      // Double encoding stays a literal segment of echo's: echo answers 404, the system service never sees it.
      [
        "/api/echo/%252e%252e/system/settings",
        404,
        (b) => expect(b).toEqual({ status: 404, message: "no such route", data: expect.any(Object) }),
      ],
      ["/api/echo/..;/system/settings", 404, (b) => expect(b.message).toBe("no such route")],
    ];
    it.each(CONTROLS)("%s is passed to the service (control) → %i", async (target, status, check) => {
      const r = await raw(app, "GET", target);
      expect(r.response?.status).toBe(status);
      check(parseJson(r.response!.body) as Json);
    });
  });

  describe("protocol abuse (raw bytes)", () => {
    const H = "host: 127.0.0.1\r\nconnection: close\r\n";
    const PROTOCOL: [name: string, bytes: () => string, status: number][] = [
      [
        "content-length and transfer-encoding together (smuggling)",
        () =>
          `POST /api/echo/items HTTP/1.1\r\n${H}content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`,
        400,
      ],
      [
        "two different content-lengths",
        () => `POST /api/echo/items HTTP/1.1\r\n${H}content-length: 5\r\ncontent-length: 6\r\n\r\nhello!`,
        400,
      ],
      [
        "non-numeric content-length",
        () => `POST /api/echo/items HTTP/1.1\r\n${H}content-length: abc\r\n\r\n`,
        400,
      ],
      [
        "negative content-length",
        () => `POST /api/echo/items HTTP/1.1\r\n${H}content-length: -1\r\n\r\n`,
        400,
      ],
      [
        "chunked not last in transfer-encoding",
        () => `POST /api/echo/items HTTP/1.1\r\n${H}transfer-encoding: chunked, gzip\r\n\r\n0\r\n\r\n`,
        400,
      ],
      ["garbage request line", () => "HELLO\r\n\r\n", 400],
      ["space in a header name", () => `GET /api/echo/hello HTTP/1.1\r\n${H}bad header: 1\r\n\r\n`, 400],
      ["obsolete line folding", () => `GET /api/echo/hello HTTP/1.1\r\n${H}x-a: b\r\n c\r\n\r\n`, 400],
      ["bare CR inside a header", () => `GET /api/echo/hello HTTP/1.1\r\n${H}x-a: b\rx-b: c\r\n\r\n`, 400],
      ["bare LF line endings", () => "GET /api/echo/hello HTTP/1.1\nhost: a\n\n", 400],
      ["raw space in the target", () => `GET /api/echo/a b HTTP/1.1\r\n${H}\r\n`, 400],
      ["raw non-ASCII in the target", () => `GET /api/echo/\xff\xfe HTTP/1.1\r\n${H}\r\n`, 400],
      [
        "target over the header size limit",
        () => `GET /api/echo/${"a".repeat(20_000)} HTTP/1.1\r\n${H}\r\n`,
        431,
      ],
      [
        "a flood of headers over the size limit",
        () =>
          `GET /api/echo/hello HTTP/1.1\r\n${H}${Array.from({ length: 1000 }, (_, i) => `x-flood-${i}: ${"v".repeat(20)}\r\n`).join("")}\r\n`,
        431,
      ],
    ];

    it.each(PROTOCOL.map(([n, b, st]) => [n, st, b] as const))(
      "%s → %i with the error shape",
      async (_n, status, bytes) => {
        const before = await proxied(app);
        const r = await rawRequest(app.port, Buffer.from(bytes(), "latin1"));
        expectRawError(r, status);
        expect(r.response!.headers.connection).toBe("close");
        expect(await proxied(app)).toBe(before);
      },
    );

    it("CONNECT opens no tunnel", async () => {
      const r = await rawRequest(app.port, "CONNECT 127.0.0.1:22 HTTP/1.1\r\nhost: 127.0.0.1:22\r\n\r\n");
      expect(r.closed).toBe(true);
      expect(r.raw).not.toMatch(/^HTTP\/1\.1 200/);
    });

    it("upgrade requests are not tunnelled, only proxied as plain requests", async () => {
      const r = await raw(app, "GET", "/api/echo/headers", { connection: "Upgrade", upgrade: "websocket" });
      expect(r.response?.status).toBe(200);
      const seen = parseJson(r.response!.body) as Json;
      expect(seen.upgrade).toBeUndefined();
    });

    it("answers pipelined requests one by one and refuses the bad one", async () => {
      const auth = { authorization: `Bearer ${app.token}` };
      const text =
        rawRequestText("GET", "/api/echo/hello", { ...auth, connection: "keep-alive" }) +
        rawRequestText("GET", "/api/echo/../system/settings", { ...auth, connection: "close" });
      const r = await rawRequest(app.port, text, { untilClose: true });
      const statuses = [...r.raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      expect(statuses).toEqual([200, 400]);
    });

    it("still serves after all of that", async () => {
      expect((await anon(app, "/health")).status).toBe(200);
      await expectAllReady(app);
    });
  });

  describe("request bodies to PUT /api/system/settings/{key}", () => {
    const BAD_BODIES: [name: string, body: string, contentType: string, status: number, message: string][] = [
      ["truncated JSON", '{"value":', "application/json", 400, "Malformed JSON"],
      ["not JSON", "not json", "application/json", 400, "Malformed JSON"],
      ["empty body", "", "application/json", 400, "Malformed JSON"],
      ["trailing garbage", '{"value":"x"} trailing', "application/json", 400, "Malformed JSON"],
      ["single quotes", "{'value':'x'}", "application/json", 400, "Malformed JSON"],
      ["JSON array", "[]", "application/json", 400, "invalid request"],
      ["JSON null", "null", "application/json", 400, "invalid request"],
      ["JSON string", '"x"', "application/json", 400, "invalid request"],
      ["value is a number", '{"value":5}', "application/json", 400, "invalid request"],
      ["value is null", '{"value":null}', "application/json", 400, "invalid request"],
      ["value is an object", '{"value":{"$gt":""}}', "application/json", 400, "invalid request"],
      ["missing value", "{}", "application/json", 400, "invalid request"],
      [
        "duplicate key, last not a string",
        '{"value":"x","value":1}',
        "application/json",
        400,
        "invalid request",
      ],
      ["unknown extra key", '{"value":"x","admin":true}', "application/json", 400, "invalid request"],
      [
        "__proto__ pollution",
        '{"value":"x","__proto__":{"polluted":true}}',
        "application/json",
        400,
        "invalid request",
      ],
      [
        "constructor pollution",
        '{"value":"x","constructor":{"prototype":{"polluted":true}}}',
        "application/json",
        400,
        "invalid request",
      ],
      [
        "value over 4096 chars",
        JSON.stringify({ value: "v".repeat(4097) }),
        "application/json",
        400,
        "invalid request",
      ],
      [
        "5000-deep nesting",
        `${"[".repeat(5000)}${"]".repeat(5000)}`,
        "application/json",
        400,
        "invalid request",
      ],
      ["right JSON, text/plain", '{"value":"x"}', "text/plain", 415, "Unsupported Media Type"],
      ["form encoded", "value=x", "application/x-www-form-urlencoded", 415, "Unsupported Media Type"],
    ];

    it.each(BAD_BODIES.map(([n, b, ct, st, m]) => [n, st, b, ct, m] as const))(
      "%s → %i, nothing stored",
      async (_n, status, body, contentType, message) => {
        const before = await settingKeys(app);
        const res = await putSetting(app, "bad.body", body, contentType);
        expect(res.status).toBe(status);
        expectErrorShape(await res.json(), status, message);
        expect(await settingKeys(app)).toEqual(before);
        expect((await app.api("/api/system/settings/bad.body")).status).toBe(404);
      },
    );

    it("stores a value full of SQL and markup verbatim (control)", async () => {
      const value = `'); DROP TABLE settings;-- <script>alert(1)</script> \u0000 ${"\u{1F600}"}`;
      const res = await putSetting(app, "box.hostile", JSON.stringify({ value }));
      expect(res.status).toBe(200);
      const back = (await (await app.api("/api/system/settings/box.hostile")).json()) as Json;
      expect(back.value).toBe(value);
      expect(await settingKeys(app)).toContain("box.hostile");
      expect((await app.api("/api/system/settings/box.hostile", { method: "DELETE" })).status).toBe(200);
    });
  });

  describe("setting keys", () => {
    const BAD_KEYS: [name: string, encodedKey: string, status: number, message: string][] = [
      ["SQL injection", encodeURIComponent("a';DROP TABLE settings;--"), 400, "invalid request"],
      ["SQL injection, double quotes", encodeURIComponent('x" OR "1"="1'), 400, "invalid request"],
      ["SQL wildcard", encodeURIComponent("%"), 400, "invalid request"],
      ["65 characters", "a".repeat(65), 400, "invalid request"],
      ["1000 characters", "a".repeat(1000), 400, "invalid request"],
      ["upper case", "Box.Label", 400, "invalid request"],
      ["leading digit", "1abc", 400, "invalid request"],
      ["leading dot", ".hidden", 400, "invalid request"],
      ["space", "a%20b", 400, "invalid request"],
      ["unicode", encodeURIComponent("ключ"), 400, "invalid request"],
      ["../etc, encoded", encodeURIComponent("../etc"), 400, SEPARATORS],
      ["..\\etc, encoded", encodeURIComponent("..\\etc"), 400, SEPARATORS],
      ["NUL", "a%00b", 400, SEPARATORS],
      ["newline", "a%0ab", 400, CONTROL],
      ["broken escape", "a%zz", 400, MALFORMED],
      ["empty", "", 404, "no such route"],
      ["two segments", "a/b", 404, "no such route"],
    ];

    it.each(BAD_KEYS.map(([n, k, st, m]) => [n, st, k, m] as const))(
      "%s → %i for PUT, GET and DELETE; table unchanged",
      async (_n, status, key, message) => {
        const before = await settingKeys(app);
        for (const method of ["PUT", "GET", "DELETE"]) {
          const res = await app.api(`/api/system/settings/${key}`, {
            method,
            ...(method === "PUT"
              ? { body: JSON.stringify({ value: "pwned" }), headers: { "content-type": "application/json" } }
              : {}),
          });
          const expected = key === "" && method === "GET" ? 404 : status;
          expect(res.status, method).toBe(expected);
          expectErrorShape(await res.json(), expected, expected === status ? message : undefined);
        }
        expect(await settingKeys(app)).toEqual(before);
      },
    );

    // fetch would resolve these dot segments itself (WHATWG treats %2e%2e as ".."), so they go raw.
    it.each(["../etc", "..", "%2e%2e", "%2E%2e/x", "./x"])(
      "raw key %s is refused by the gateway",
      async (key) => {
        const before = await settingKeys(app);
        const body = JSON.stringify({ value: "pwned" });
        const r = await raw(
          app,
          "PUT",
          `/api/system/settings/${key}`,
          { "content-type": "application/json" },
          body,
        );
        expectRawError(r, 400, DOTS);
        expect(await settingKeys(app)).toEqual(before);
      },
    );

    it("accepts a 64-character key (control) and the table is intact", async () => {
      const key = `k${"a".repeat(63)}`;
      expect((await putSetting(app, key, JSON.stringify({ value: "v" }))).status).toBe(200);
      expect(await settingKeys(app)).toContain(key);
      expect((await app.api(`/api/system/settings/${key}`, { method: "DELETE" })).status).toBe(200);
      expect(await settingKeys(app)).not.toContain(key);
    });
  });

  describe("service errors", () => {
    it("a handler that throws → 500 with the shape and no internals", async () => {
      const res = await app.api("/api/echo/boom");
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(parseJson(text)).toEqual({ status: 500, message: "internal error", data: null });
      for (const leak of ["secret internals", "Error", " at ", ".ts", "stack"])
        expect(text).not.toContain(leak);
      expect(res.headers.get("x-request-id")).toMatch(UUID);
    });

    it("an ApiError passes through with its status, message and data", async () => {
      const res = await app.api("/api/echo/teapot");
      expect(res.status).toBe(418);
      expect(await res.json()).toEqual({ status: 418, message: "short and stout", data: { spout: true } });
    });

    it("the service survives both", async () => {
      await Promise.all([app.api("/api/echo/boom"), app.api("/api/echo/teapot")]);
      expect((await app.api("/api/echo/hello")).status).toBe(200);
      await expectAllReady(app);
    });
  });

  describe("trusted headers", () => {
    const FORGED = {
      "x-nexus-principal": JSON.stringify({ id: "attacker", roles: ["admin"], via: "token" }),
      "x-forwarded-for": "6.6.6.6",
      "x-forwarded-proto": "https",
    };
    const expectGatewaySet = (seen: Json) => {
      expect(JSON.parse(seen["x-nexus-principal"] as string)).toEqual({
        id: "bootstrap-admin",
        roles: ["admin"],
        permissions: ["*"],
        via: "bootstrap-token",
      });
      expect(["127.0.0.1", "::ffff:127.0.0.1"]).toContain(seen["x-forwarded-for"]);
      expect(seen["x-forwarded-proto"]).toBe("http");
      const all = JSON.stringify(seen);
      for (const bad of ["attacker", "6.6.6.6", "7.7.7.7", "https"]) expect(all).not.toContain(bad);
    };

    it("replaces client-supplied x-nexus-principal / x-forwarded-*", async () => {
      const res = await app.api("/api/echo/headers", { headers: FORGED });
      expect(res.status).toBe(200);
      expectGatewaySet((await res.json()) as Json);
    });

    it("replaces them when repeated or oddly cased (raw)", async () => {
      const text =
        `GET /api/echo/headers HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n` +
        `authorization: Bearer ${app.token}\r\n` +
        `X-Nexus-Principal: {"id":"attacker","roles":["admin"]}\r\n` +
        `x-nexus-principal: {"id":"attacker2"}\r\n` +
        "X-FORWARDED-FOR: 6.6.6.6\r\nx-forwarded-for: 7.7.7.7\r\nX-Forwarded-Proto: https\r\n\r\n";
      const r = await rawRequest(app.port, text);
      expect(r.response?.status).toBe(200);
      expectGatewaySet(parseJson(r.response!.body) as Json);
    });

    it("the request id the service sees is the one the client gets back", async () => {
      const res = await app.api("/api/echo/headers", { headers: { "x-request-id": "trace-me.42" } });
      expect(res.headers.get("x-request-id")).toBe("trace-me.42");
      expect(((await res.json()) as Json)["x-request-id"]).toBe("trace-me.42");
    });
  });

  describe("request ids", () => {
    const IDS: [name: string, id: string, kept: boolean][] = [
      ["simple", "abc-123_X.y", true],
      ["one character", "0", true],
      ["64 characters", "i".repeat(64), true],
      ["65 characters", "i".repeat(65), false],
      ["200 characters", "i".repeat(200), false],
      ["empty", "", false],
      ["with spaces", "has spaces in it", false],
      ["slash", "a/b", false],
      ["markup", "<script>alert(1)</script>", false],
      ["shell", "id;rm -rf /", false],
      ["latin-1", "caf\u00e9", false],
      ["two values", "a, b", false],
    ];

    it.each(IDS.map(([n, id, kept]) => [n, kept ? "kept" : "replaced", id, kept] as const))(
      "%s → %s",
      async (_n, _outcome, id, kept) => {
        for (const path of ["/api/echo/headers", "/api/nope/x"]) {
          const res = await app.api(path, { headers: { "x-request-id": id } });
          const got = res.headers.get("x-request-id");
          if (kept) expect(got).toBe(id);
          else {
            expect(got).toMatch(UUID);
            expect(got).not.toBe(id);
          }
          const body = (await res.json()) as Json;
          if (res.status === 200) expect(body["x-request-id"]).toBe(got);
        }
      },
    );

    it("a repeated header is replaced (raw)", async () => {
      const r = await rawRequest(
        app.port,
        `GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\nx-request-id: a\r\nx-request-id: b\r\n\r\n`,
      );
      expect(r.response?.status).toBe(200);
      expect(r.response!.headers["x-request-id"]).toMatch(UUID);
    });

    it("gateway-answered errors carry one too", async () => {
      const res = await anon(app, "/api/echo/hello", { headers: { "x-request-id": "no-token-1" } });
      expect(res.status).toBe(401);
      expect(res.headers.get("x-request-id")).toBe("no-token-1");
    });
  });

  describe("concurrency", () => {
    it("50 concurrent PUTs of different settings all succeed and are all listed", async () => {
      const keys = Array.from({ length: 50 }, (_, i) => `conc.k${String(i).padStart(2, "0")}`);
      const results = await Promise.all(
        keys.map((k) => putSetting(app, k, JSON.stringify({ value: `v-${k}` }))),
      );
      expect(results.map((r) => r.status)).toEqual(keys.map(() => 200));
      const bodies = (await Promise.all(results.map((r) => r.json()))) as Json[];
      expect(bodies.map((b) => b.key)).toEqual(keys);
      const res = await app.api("/api/system/settings");
      const { settings } = (await res.json()) as { settings: { key: string; value: string }[] };
      const listed = new Map(settings.map((s) => [s.key, s.value]));
      for (const k of keys) expect(listed.get(k), k).toBe(`v-${k}`);
    });

    it("100 concurrent mixed bad requests crash nothing", async () => {
      const keysBefore = await settingKeys(app);
      const auth = { authorization: `Bearer ${app.token}` };
      const json = { "content-type": "application/json" };
      const status = (p: Promise<Response>) =>
        p.then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        });
      const rawStatus = (text: string) =>
        rawRequest(app.port, Buffer.from(text, "latin1")).then((r) => r.response?.status ?? 0);
      const KINDS: [expected: number[], send: () => Promise<number>][] = [
        [[401], () => status(anon(app, "/api/echo/hello"))],
        [
          [401],
          () => status(anon(app, "/api/system/settings/x", { method: "PUT", body: "{}", headers: json })),
        ],
        [[401], () => status(anon(app, "/api/echo/hello", { headers: { authorization: "Bearer nope" } }))],
        [[404], () => status(app.api("/api/nope/hello"))],
        [[400], () => status(putSetting(app, "mixed.bad", '{"value":'))],
        [
          [400],
          () => status(putSetting(app, encodeURIComponent("a';DROP TABLE settings;--"), '{"value":"x"}')),
        ],
        [[500], () => status(app.api("/api/echo/boom"))],
        [[418], () => status(app.api("/api/echo/teapot"))],
        [[400], () => status(app.api("/api/echo/items", { method: "POST", body: "[", headers: json }))],
        [[400], () => rawStatus(rawRequestText("GET", "/api/echo/../system/settings", auth))],
        [[400], () => rawStatus(rawRequestText("GET", "/api/echo/%2e%2e%2fsystem", auth))],
        [
          [400],
          () =>
            rawStatus(
              `POST /api/echo/items HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`,
            ),
        ],
        [[400], () => rawStatus("\x00\x01\x02 garbage\r\n\r\n")],
        [[431], () => rawStatus(rawRequestText("GET", `/api/echo/${"a".repeat(20_000)}`, auth))],
      ];
      const runs = Array.from({ length: 100 }, (_, i) => {
        const [expected, send] = KINDS[i % KINDS.length]!;
        return send().then((s) => ({ i, expected, s }));
      });
      const outcomes = await Promise.all(runs);
      for (const o of outcomes) expect(o.expected, `request ${o.i} got ${o.s}`).toContain(o.s);
      await expectAllReady(app);
      expect((await app.api("/api/echo/hello")).status).toBe(200);
      expect((await app.api("/api/system/time")).status).toBe(200);
      expect(await settingKeys(app)).toEqual(keysBefore);
    });
  });

  describe("metrics", () => {
    it("counts each kind of rejection in nexus_gateway_rejected_total, and none as proxied", async () => {
      const before = await metricsText(app);
      const count = (text: string, reason: string) =>
        metric(text, "nexus_gateway_rejected_total", { reason });
      expect((await anon(app, "/api/echo/hello")).status).toBe(401);
      expect((await raw(app, "GET", "/api/echo/../system/settings")).response?.status).toBe(400);
      expect((await app.api("/api/nope/x")).status).toBe(404);
      const after = await metricsText(app);
      expect(count(after, "unauthenticated") - count(before, "unauthenticated")).toBe(1);
      expect(count(after, "path") - count(before, "path")).toBe(1);
      expect(count(after, "unknown-service") - count(before, "unknown-service")).toBe(1);
      expect(metric(after, "nexus_http_requests_total")).toBe(metric(before, "nexus_http_requests_total"));
      expect(after).toContain("# TYPE nexus_gateway_rejected_total counter");
    });

    it("counts proxied errors by status code", async () => {
      const text = await metricsText(app);
      expect(metric(text, "nexus_http_requests_total", { service: "echo", code: "500" })).toBeGreaterThan(0);
      expect(metric(text, "nexus_http_requests_total", { service: "echo", code: "418" })).toBeGreaterThan(0);
      expect(metric(text, "nexus_http_requests_total", { service: "system", code: "400" })).toBeGreaterThan(
        0,
      );
    });
  });

  describe("openapi", () => {
    it("GET /api/openapi.json (authenticated) lists the services' paths under /api/<service>/", async () => {
      const res = await app.api("/api/openapi.json");
      expect(res.status).toBe(200);
      const doc = (await res.json()) as { paths: Record<string, unknown>; info: { description: string } };
      const paths = Object.keys(doc.paths);
      expect(paths).toEqual(expect.arrayContaining(["/api/system/info", "/api/system/settings/{key}"]));
      expect(paths.filter((p) => p.startsWith("/api/system/")).length).toBeGreaterThanOrEqual(4);
      // Besides the services', the gateway's own paths (/health, /api/appliance/…), tagged "appliance".
      for (const p of paths)
        expect(p).toMatch(/^\/api\/(echo|system|appliance)\/|^\/(health|ready|metrics)$/);
      expect(paths).toEqual(
        expect.arrayContaining(["/health", "/ready", "/metrics", "/api/appliance/status"]),
      );
      expect(doc.info.description).toBe("");
    });

    it("is not served without the token", async () => {
      const res = await anon(app, "/api/openapi.json");
      expect(res.status).toBe(401);
      expectErrorShape(await res.json(), 401);
    });
  });
});

describe("gateway with tiny limits (echo)", () => {
  const BODY_LIMIT = 1024;
  let app: TestAppliance;
  beforeAll(async () => {
    app = await startTestAppliance({
      services: ["echo"],
      env: {
        NEXUS_GATEWAY_BODY_LIMIT_BYTES: String(BODY_LIMIT),
        NEXUS_GATEWAY_HEADERS_TIMEOUT_MS: "1000",
        NEXUS_GATEWAY_REQUEST_TIMEOUT_MS: "4000",
        NEXUS_GATEWAY_UPSTREAM_TIMEOUT_MS: "3000",
      },
    });
  });
  afterAll(async () => {
    if (app) {
      await app.stop();
      removeDir(app.dataDir);
    }
  });

  /** Creates an item; its id tells how many rows the table has had. */
  async function createItem(): Promise<number> {
    const res = await app.api("/api/echo/items", {
      method: "POST",
      body: JSON.stringify({ body: "ok" }),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: number }).id;
  }

  const TOO_BIG = `request body over ${BODY_LIMIT} bytes`;
  const bodySizeRejections = (text: string) =>
    metric(text, "nexus_gateway_rejected_total", { reason: "body-size" });

  describe("body size", () => {
    const DECLARED: [name: string, length: string, token: boolean][] = [
      ["limit + 1, with token", String(BODY_LIMIT + 1), true],
      ["2 KB, with token", "2048", true],
      ["2 KB, without token", "2048", false],
      ["1 TB, with token", String(2 ** 40), true],
    ];
    it.each(DECLARED)(
      "declared content-length %s → 413 before the body is read",
      async (_n, length, token) => {
        const rejectedBefore = bodySizeRejections(await metricsText(app));
        const first = await createItem();
        const headers: Record<string, string> = {
          host: "127.0.0.1",
          "content-type": "application/json",
          "content-length": length,
          ...(token ? { authorization: `Bearer ${app.token}` } : {}),
        };
        // Only the head and a few bytes: the gateway must answer without waiting for the rest.
        const text = `POST /api/echo/items HTTP/1.1\r\n${Object.entries(headers)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join("")}\r\n{"body":"`;
        const r = await rawRequest(app.port, text);
        expectRawError(r, 413, TOO_BIG);
        expect(r.response!.headers.connection).toBe("close");
        expect(await createItem()).toBe(first + 1);
        expect(bodySizeRejections(await metricsText(app))).toBe(rejectedBefore + 1);
      },
    );

    it("a body of exactly the limit gets through", async () => {
      const json = JSON.stringify({ body: "x".repeat(500) });
      const body = json + " ".repeat(BODY_LIMIT - json.length);
      expect(Buffer.byteLength(body)).toBe(BODY_LIMIT);
      const res = await app.api("/api/echo/items", {
        method: "POST",
        body,
        headers: { "content-type": "application/json" },
      });
      expect(res.status).toBe(201);
    });

    it("a client that waits for 100 Continue gets it and its body through", async () => {
      const first = await createItem();
      const body = JSON.stringify({ body: "after continue" });
      const answer = await new Promise<{ status: number; continued: boolean; text: string }>(
        (resolve, reject) => {
          let continued = false;
          const req = http.request({
            port: app.port,
            host: "127.0.0.1",
            method: "POST",
            path: "/api/echo/items",
            headers: {
              authorization: `Bearer ${app.token}`,
              "content-type": "application/json",
              "content-length": Buffer.byteLength(body),
              expect: "100-continue",
            },
          });
          req.once("continue", () => {
            continued = true;
            req.end(body);
          });
          req.once("response", (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (d: string) => {
              text += d;
            });
            res.once("end", () => resolve({ status: res.statusCode ?? 0, continued, text }));
          });
          req.once("error", reject);
        },
      );
      expect(answer.continued).toBe(true);
      expect(answer.status).toBe(201);
      expect((JSON.parse(answer.text) as { id: number }).id).toBe(first + 1);
    });

    it("a chunked body without content-length is cut off at the limit → 413, nothing stored", async () => {
      const rejectedBefore = bodySizeRejections(await metricsText(app));
      const first = await createItem();
      const head = rawRequestText("POST", "/api/echo/items", {
        authorization: `Bearer ${app.token}`,
        "content-type": "application/json",
        "transfer-encoding": "chunked",
      });
      const r = await rawExchange(app.port, async (s, done) => {
        s.write(head);
        // 16 chunks of 256 bytes: 4 KB, four times the limit; then wait for the answer without ending.
        for (let i = 0; i < 16 && !done(); i++) {
          const chunk = (i === 0 ? `{"body":"${"x".repeat(256)}` : "x".repeat(256)).slice(0, 256);
          s.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
          await sleep(20);
        }
      });
      expectRawError(r, 413, TOO_BIG);
      expect(await createItem()).toBe(first + 1);
      await expectAllReady(app);
      expect(bodySizeRejections(await metricsText(app))).toBe(rejectedBefore + 1);
    });
  });

  describe("slow clients", () => {
    /** Sends a request head one byte at a time, never finishing it, until the server gives up (or 20 s). */
    function slowloris() {
      return rawExchange(app.port, async (s, done) => {
        s.write("GET /api/echo/hello HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ");
        for (let i = 0; i < 80 && !done(); i++) {
          s.write("a");
          await sleep(250);
        }
      });
    }

    it("a slowloris gets 408 or a closed connection, and the gateway keeps serving others meanwhile", async () => {
      const attackers = Array.from({ length: 3 }, () => slowloris());
      for (let i = 0; i < 3; i++) {
        expect((await anon(app, "/health")).status).toBe(200);
        expect((await app.api("/api/echo/hello")).status).toBe(200);
      }
      for (const r of await Promise.all(attackers)) {
        expect(r.closed || r.response !== null, `no answer and still open after ${r.elapsedMs} ms`).toBe(
          true,
        );
        // The headers timeout is 1 s; node's own default check interval (30 s) would blow through this.
        expect(r.elapsedMs).toBeLessThan(15_000);
        if (r.response) expectRawError(r, 408);
        else expect(r.raw).toBe("");
      }
      expect((await app.api("/api/echo/hello")).status).toBe(200);
    });

    it("a body that trickles in past the request timeout is cut off; the gateway keeps serving", async () => {
      const r = await rawExchange(app.port, async (s, done) => {
        s.write(
          rawRequestText("POST", "/api/echo/items", {
            authorization: `Bearer ${app.token}`,
            "content-type": "application/json",
            "content-length": "200",
          }),
        );
        for (let i = 0; i < 80 && !done(); i++) {
          s.write(" ");
          await sleep(250);
        }
      });
      expect(r.closed || r.response !== null).toBe(true);
      expect(r.elapsedMs).toBeLessThan(19_000);
      if (r.response) expect([408, 504]).toContain(r.response.status);
      expect((await app.api("/api/echo/hello")).status).toBe(200);
      await expectAllReady(app);
    });
  });

  describe("upstream timeout", () => {
    it("a service slower than the upstream timeout → 504; the service still answers fast requests", async () => {
      const res = await app.api("/api/echo/slow?ms=15000");
      expect(res.status).toBe(504);
      expect(await res.json()).toEqual({
        status: 504,
        message: "service did not answer in time",
        data: { service: "echo" },
      });
      const quick = await app.api("/api/echo/slow?ms=10");
      expect(quick.status).toBe(200);
      expect(await quick.json()).toEqual({ slow: true });
      await expectAllReady(app);
      const text = await metricsText(app);
      expect(
        metric(text, "nexus_http_requests_total", { service: "echo", code: "504" }),
      ).toBeGreaterThanOrEqual(1);
    });
  });
});

describe("gateway rate limit", () => {
  const MAX = 3;
  const WINDOW_MS = 4000;
  let app: TestAppliance;
  beforeAll(async () => {
    app = await startTestAppliance({
      services: ["echo"],
      env: {
        NEXUS_GATEWAY_RATE_LIMIT_MAX: String(MAX),
        NEXUS_GATEWAY_RATE_LIMIT_WINDOW_MS: String(WINDOW_MS),
      },
    });
  });
  afterAll(async () => {
    if (app) {
      await app.stop();
      removeDir(app.dataDir);
    }
  });

  it("answers 429 with retry-after once a client is over its limit; another client address is unaffected", async () => {
    let limited: Response | null = null;
    for (let i = 0; i < 30 && !limited; i++) {
      const res = await app.api("/api/echo/hello");
      if (res.status === 429) limited = res;
      else {
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
    }
    expect(limited, "never rate limited").not.toBeNull();
    const retryAfter = Number(limited!.headers.get("retry-after"));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil(WINDOW_MS / 1000));
    expect(limited!.headers.get("x-request-id")).toMatch(UUID);
    expect(await limited!.json()).toEqual({ status: 429, message: "too many requests", data: null });

    // 127.0.0.2 is loopback too, but its own client: a fresh bucket. The x-forwarded-for it sends is ignored.
    const other = await rawRequest(
      app.port,
      rawRequestText("GET", "/api/echo/hello", {
        authorization: `Bearer ${app.token}`,
        "x-forwarded-for": "127.0.0.1",
      }),
      { localAddress: "127.0.0.2" },
    );
    expect(other.response?.status).toBe(200);
  });

  it("lets the client in again after the window, and counts the rejections", async () => {
    await waitFor(async () => (await anon(app, "/health")).status === 200, 30_000, "the window to reset");
    const text = await metricsText(app);
    expect(metric(text, "nexus_gateway_rejected_total", { reason: "rate-limit" })).toBeGreaterThanOrEqual(1);
  });
});

describe("gateway in front of a misbehaving service (in-process gateway, raw TCP service)", () => {
  const TOKEN = "upstream-test-token";
  /** Request ids the service got, and those whose connection then closed ("the gateway let go of it"). */
  const seen = new Set<string>();
  const closed = new Set<string>();
  let upstream: net.Server;
  let upstreamPort: number;
  const gateways: Server[] = [];

  /** A "service" that misbehaves according to the path it is asked for. */
  function misbehave(socket: net.Socket, path: string) {
    const cutBody = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n0123456789";
    switch (path) {
      case "/cut":
        socket.write(cutBody);
        setTimeout(() => socket.destroy(), 50);
        return;
      case "/cut-chunked":
        socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n");
        setTimeout(() => socket.destroy(), 50);
        return;
      case "/stall":
        socket.write(cutBody);
        return;
      case "/garbage":
        socket.end("NOT HTTP AT ALL\r\n\r\n");
        return;
      case "/hangup":
        socket.destroy();
        return;
      case "/silent":
        return;
      default:
        socket.end(
          'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}',
        );
    }
  }

  beforeAll(async () => {
    upstream = net.createServer((socket) => {
      let head = "";
      socket.setEncoding("latin1");
      socket.on("error", () => undefined);
      socket.on("data", (d: string) => {
        if (head.includes("\r\n\r\n")) return;
        head += d;
        if (!head.includes("\r\n\r\n")) return;
        const path = /^[A-Z]+ (\S+)/.exec(head)?.[1] ?? "/";
        const id = /x-request-id: (\S+)/i.exec(head)?.[1] ?? "";
        seen.add(id);
        socket.once("close", () => closed.add(id));
        misbehave(socket, path);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    upstreamPort = (upstream.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const g of gateways) {
      g.closeAllConnections();
      await new Promise((r) => g.close(r));
    }
    await new Promise((r) => upstream.close(r));
  });

  async function startGateway(overrides: Partial<GatewayConfig> = {}): Promise<number> {
    const g = createGateway({
      config: gatewayConfigSchema.parse({ upstreamTimeoutMs: 1500, ...overrides }),
      log: pino({ level: "silent" }),
      version: "test",
      auth: bootstrapTokenAuth(TOKEN),
      metrics: new GatewayMetrics(),
      routes: () => new Map([["bad", upstreamPort]]),
      services: () => ["bad"],
      gauges: () => [],
      route: () => ({ method: "*", path: "*", access: { permission: "*" } }),
      internalToken: "test-internal",
    });
    gateways.push(g);
    await new Promise<void>((r) => g.listen(0, "127.0.0.1", r));
    return (g.address() as AddressInfo).port;
  }

  const get = (port: number, path: string, id = "t") =>
    rawRequest(
      port,
      rawRequestText("GET", `/api/bad${path}`, { authorization: `Bearer ${TOKEN}`, "x-request-id": id }),
    );

  it("answers for a well-behaved request (control)", async () => {
    const port = await startGateway();
    const r = await get(port, "/ok");
    expect(r.response?.status).toBe(200);
    expect(parseJson(r.response!.body)).toEqual({ ok: true });
  });

  it.each([
    ["answers garbage", "/garbage"],
    ["hangs up at once", "/hangup"],
  ])("a service that %s → 503 with the shape", async (_n, path) => {
    const port = await startGateway();
    expectRawError(await get(port, path), 503, "service unavailable");
    expect((await get(port, "/ok")).response?.status).toBe(200);
  });

  it.each([
    ["hangs up on a request with a body", "/hangup", 503, "service unavailable"],
    ["never answers a request with a body", "/silent", 504, "service did not answer in time"],
  ])("a service that %s → %i; the gateway keeps serving", async (_n, path, status, message) => {
    const port = await startGateway();
    const text = rawRequestText(
      "POST",
      `/api/bad${path}`,
      { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      JSON.stringify({ body: "x".repeat(4096) }),
    );
    expectRawError(await rawRequest(port, text), status, message);
    expect((await get(port, "/ok")).response?.status).toBe(200);
  });

  it("a service that never answers → 504", async () => {
    const port = await startGateway();
    expectRawError(await get(port, "/silent"), 504, "service did not answer in time");
  });

  it.each([
    ["dies in the middle of a body with a content-length", "/cut"],
    ["dies in the middle of a chunked body", "/cut-chunked"],
    ["stalls in the middle of a body", "/stall"],
  ])("a service that %s: the client's connection is closed, not left hanging", async (_n, path) => {
    const port = await startGateway();
    const r = await get(port, path);
    expect(r.closed, `client still waiting after ${r.elapsedMs} ms`).toBe(true);
    expect(r.raw).toMatch(/^HTTP\/1\.1 200/);
    expect(r.response).toBeNull();
    expect((await get(port, "/ok")).response?.status).toBe(200);
  });

  it("a client that goes away does not leave the service's request open", async () => {
    const port = await startGateway({ upstreamTimeoutMs: 60_000 });
    const id = "client-gone-1";
    const text = rawRequestText("GET", "/api/bad/silent", {
      authorization: `Bearer ${TOKEN}`,
      "x-request-id": id,
    });
    // Hang up only once the service holds the request; the gateway's upstream timeout is a minute away.
    const r = await rawExchange(port, async (s) => {
      s.write(text);
      await waitFor(() => seen.has(id), 10_000, "the service to get the request");
      s.destroy();
    });
    expect(r.response).toBeNull();
    await waitFor(() => closed.has(id), 10_000, "the gateway to close the service's connection");
  });
});
