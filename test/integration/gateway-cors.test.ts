/**
 * CORS at a real gateway (supervisor, nats-server, the echo fixture service, bootstrap-token auth): preflights
 * answered before authentication, the exact origin echoed on answers to allowed origins (errors included),
 * nothing for any other origin, and CORS off on a box that lists no origin.
 */
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, startTestAppliance, type TestAppliance } from "../helpers/appliance.js";

const ALLOWED = "http://127.0.0.1:5173";
const OTHER = "https://app.example.org";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with exactly these headers (node:http: fetch would not let a caller set Origin freely). */
function request(
  box: TestAppliance,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${box.url}${path}`, { method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

const corsHeaders = (h: http.IncomingHttpHeaders) =>
  Object.keys(h).filter((k) => k.startsWith("access-control-"));

const preflight = (box: TestAppliance, origin: string, path = "/api/echo/hello") =>
  request(box, "OPTIONS", path, {
    origin,
    "access-control-request-method": "PATCH",
    "access-control-request-headers": "authorization, content-type, upload-offset, tus-resumable",
  });

describe("CORS with allowed origins", () => {
  let box: TestAppliance;
  beforeAll(async () => {
    box = await startTestAppliance({
      services: ["echo"],
      env: { NEXUS_CORS_ALLOWED_ORIGINS: `${ALLOWED},http://localhost:5173` },
    });
  });
  afterAll(async () => {
    await box?.stop();
    if (box) removeDir(box.dataDir);
  });

  it("answers a preflight from an allowed origin with 204 before authentication (no credentials sent)", async () => {
    const r = await preflight(box, ALLOWED);
    expect(r.status, r.body).toBe(204);
    expect(r.body).toBe("");
    expect(r.headers["access-control-allow-origin"]).toBe(ALLOWED);
    expect(r.headers["access-control-allow-methods"]).toContain("PATCH");
    for (const h of [
      "authorization",
      "content-type",
      "x-api-key",
      "x-csrf-token",
      "upload-offset",
      "tus-resumable",
    ])
      expect(r.headers["access-control-allow-headers"], h).toContain(h);
    expect(Number(r.headers["access-control-max-age"])).toBeGreaterThan(0);
    expect(r.headers.vary).toContain("Origin");
    expect(r.headers["access-control-allow-credentials"]).toBeUndefined();
    expect(r.headers["x-request-id"]).toBeTruthy();
  });

  it("answers the preflight the same for a protected route, an unknown service and the gateway's own paths", async () => {
    for (const path of ["/api/echo/items", "/api/nope/x", "/api/appliance/status", "/health"]) {
      const r = await preflight(box, ALLOWED, path);
      expect(r.status, path).toBe(204);
      expect(r.headers["access-control-allow-origin"], path).toBe(ALLOWED);
    }
  });

  it("refuses a preflight from another origin with 403 in the error shape and no CORS header", async () => {
    for (const origin of [OTHER, "http://127.0.0.1:5174", "null"]) {
      const r = await preflight(box, origin);
      expect(r.status, origin).toBe(403);
      expect(JSON.parse(r.body)).toEqual({ status: 403, message: "origin not allowed", data: { origin } });
      expect(corsHeaders(r.headers), origin).toEqual([]);
    }
  });

  it("puts the exact origin, Vary and the exposed headers on a proxied answer to an allowed origin", async () => {
    const r = await request(box, "GET", "/api/echo/hello", {
      origin: ALLOWED,
      authorization: `Bearer ${box.token}`,
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).hello).toBe("world");
    expect(r.headers["access-control-allow-origin"]).toBe(ALLOWED);
    expect(r.headers.vary).toContain("Origin");
    for (const h of [
      "location",
      "upload-offset",
      "upload-length",
      "tus-resumable",
      "upload-expires",
      "etag",
      "x-request-id",
    ])
      expect(r.headers["access-control-expose-headers"], h).toContain(h);
    const other = await request(box, "GET", "/api/echo/hello", {
      origin: "http://localhost:5173",
      authorization: `Bearer ${box.token}`,
    });
    expect(other.headers["access-control-allow-origin"]).toBe("http://localhost:5173");
  });

  it("also on the gateway's errors, so the page can read a 401", async () => {
    const r = await request(box, "GET", "/api/echo/hello", { origin: ALLOWED });
    expect(r.status).toBe(401);
    expect(r.headers["access-control-allow-origin"]).toBe(ALLOWED);
  });

  it("gives another origin's request its normal answer but no CORS header (the browser keeps it from the page)", async () => {
    const r = await request(box, "GET", "/api/echo/hello", {
      origin: OTHER,
      authorization: `Bearer ${box.token}`,
    });
    expect(r.status).toBe(200);
    expect(corsHeaders(r.headers)).toEqual([]);
    const none = await request(box, "GET", "/api/echo/hello", { authorization: `Bearer ${box.token}` });
    expect(corsHeaders(none.headers)).toEqual([]);
  });
});

describe("CORS off (the default)", () => {
  let box: TestAppliance;
  beforeAll(async () => {
    box = await startTestAppliance({ services: ["echo"] });
  });
  afterAll(async () => {
    await box?.stop();
    if (box) removeDir(box.dataDir);
  });

  it("adds no CORS header for any origin and refuses every preflight", async () => {
    const r = await request(box, "GET", "/api/echo/hello", {
      origin: ALLOWED,
      authorization: `Bearer ${box.token}`,
    });
    expect(r.status).toBe(200);
    expect(corsHeaders(r.headers)).toEqual([]);
    expect(r.headers.vary).toBeUndefined();
    const p = await preflight(box, ALLOWED);
    expect(p.status).toBe(403);
    expect(corsHeaders(p.headers)).toEqual([]);
  });
});
