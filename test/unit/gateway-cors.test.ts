/** CORS decisions (appliance/gateway/cors.ts) and the `cors.allowedOrigins` config key, as plain values. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadApplianceConfig } from "../../appliance/config/load.js";
import { isExactOrigin } from "../../appliance/config/schema.js";
import { corsPolicy } from "../../appliance/gateway/cors.js";
import { removeDir, tempDir } from "../helpers/appliance.js";

const APP = "https://app.example.org";
const policy = corsPolicy([APP, "http://127.0.0.1:5173"]);
const preflight = (origin: string, extra: Record<string, string> = {}) =>
  policy("OPTIONS", { origin, "access-control-request-method": "PUT", ...extra });

describe("corsPolicy", () => {
  it("is off without origins: no header on any answer, and every preflight refused", () => {
    const off = corsPolicy([]);
    expect(off("GET", { origin: APP })).toEqual({ preflight: null, headers: {} });
    expect(off("GET", {})).toEqual({ preflight: null, headers: {} });
    expect(off("OPTIONS", { origin: APP, "access-control-request-method": "GET" })).toEqual({
      preflight: "refused",
      headers: {},
    });
  });

  it("answers a preflight from an allowed origin with its exact origin, methods, headers and max-age", () => {
    const d = preflight(APP);
    expect(d.preflight).toBe("allowed");
    expect(d.headers).toMatchObject({
      "access-control-allow-origin": APP,
      "access-control-max-age": "600",
      vary: "Origin",
    });
    const methods = d.headers["access-control-allow-methods"]!.split(", ");
    expect(methods).toEqual(expect.arrayContaining(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]));
    const allowHeaders = d.headers["access-control-allow-headers"]!.split(", ");
    for (const h of [
      "authorization",
      "content-type",
      "x-api-key",
      "x-csrf-token",
      "upload-length",
      "upload-offset",
      "upload-metadata",
      "tus-resumable",
      "upload-checksum",
    ])
      expect(allowHeaders, h).toContain(h);
    expect(d.headers).not.toHaveProperty("access-control-allow-credentials");
    expect(d.headers).not.toHaveProperty("access-control-allow-private-network");
  });

  it("allows a LAN box to be called from a public origin's page only when the browser asks (private network)", () => {
    const d = preflight(APP, { "access-control-request-private-network": "true" });
    expect(d.headers["access-control-allow-private-network"]).toBe("true");
    expect(preflight("https://evil.example", { "access-control-request-private-network": "true" })).toEqual({
      preflight: "refused",
      headers: { vary: "Origin" },
    });
  });

  it("puts the exact origin, the exposed headers and Vary on a normal answer to an allowed origin", () => {
    const d = policy("GET", { origin: "http://127.0.0.1:5173" });
    expect(d.preflight).toBeNull();
    expect(d.headers["access-control-allow-origin"]).toBe("http://127.0.0.1:5173");
    expect(d.headers.vary).toBe("Origin");
    const exposed = d.headers["access-control-expose-headers"]!.split(", ");
    for (const h of [
      "location",
      "upload-offset",
      "upload-length",
      "tus-resumable",
      "upload-expires",
      "etag",
      "x-request-id",
    ])
      expect(exposed, h).toContain(h);
    expect(d.headers).not.toHaveProperty("access-control-allow-methods");
  });

  it.each([
    ["another site", "https://evil.example"],
    ["a different port", "http://127.0.0.1:5174"],
    ["a different scheme", "http://app.example.org"],
    ["a suffix trick", "https://app.example.org.evil.example"],
    ["a trailing slash", "https://app.example.org/"],
    ["upper case", "https://APP.example.org"],
    ["the opaque origin", "null"],
    ["a wildcard", "*"],
  ])("gives %s no CORS header, and refuses its preflight", (_name, origin) => {
    expect(policy("GET", { origin })).toEqual({ preflight: null, headers: { vary: "Origin" } });
    expect(preflight(origin)).toEqual({ preflight: "refused", headers: { vary: "Origin" } });
  });

  it("treats OPTIONS without Access-Control-Request-Method, or without Origin, as a normal request", () => {
    expect(policy("OPTIONS", { origin: APP }).preflight).toBeNull();
    expect(policy("OPTIONS", { "access-control-request-method": "GET" }).preflight).toBeNull();
  });
});

describe("cors.allowedOrigins in the appliance config", () => {
  const dir = tempDir("nexus-cors-config-");
  afterAll(() => removeDir(dir));
  const load = (cors: unknown, env: Record<string, string> = {}) => {
    const d = join(dir, String(Math.random()).slice(2));
    mkdirSync(d);
    if (cors !== undefined) writeFileSync(join(d, "config.json"), JSON.stringify({ cors }));
    return loadApplianceConfig({ dataDir: d }, env);
  };

  it("is empty (CORS off) by default; config.json lists origins; NEXUS_CORS_ALLOWED_ORIGINS (comma list) wins", () => {
    expect(load(undefined).cors).toEqual({ allowedOrigins: [] });
    expect(load({ allowedOrigins: [APP] }).cors.allowedOrigins).toEqual([APP]);
    expect(
      load(
        { allowedOrigins: [APP] },
        { NEXUS_CORS_ALLOWED_ORIGINS: "http://127.0.0.1:3000, https://b.example" },
      ).cors.allowedOrigins,
    ).toEqual(["http://127.0.0.1:3000", "https://b.example"]);
  });

  it.each([
    ["*", /'\*' is not allowed/],
    ["https://app.example.org/", /not an exact origin/],
    ["https://app.example.org/path", /not an exact origin/],
    ["app.example.org", /not an exact origin/],
    ["ftp://app.example.org", /not an exact origin/],
    ["https://APP.example.org", /not an exact origin/],
    ["https://app.example.org:443", /not an exact origin/],
    ["https://*.example.org", /'\*' is not allowed/],
    ["null", /not an exact origin/],
  ])("refuses %j, naming the key", (origin, message) => {
    expect(() => load({ allowedOrigins: [origin] })).toThrow(/cors|allowedOrigins/);
    expect(() => load({ allowedOrigins: [origin] })).toThrow(message);
  });

  it("refuses an unknown key under cors", () => {
    expect(() => load({ allowedOrigin: [APP] })).toThrow(/allowedOrigin/);
  });

  it("isExactOrigin accepts what browsers send", () => {
    for (const o of [APP, "http://127.0.0.1:8080", "http://[::1]:3000", "https://xn--bcher-kva.example"])
      expect(isExactOrigin(o), o).toBe(true);
  });
});
