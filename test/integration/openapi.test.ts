/**
 * The box's OpenAPI document as a generated client sees it: served by a real gateway with every service
 * (identity, files, system, forms, media, ai), it lints with @redocly/cli's recommended rules without errors, validates with swagger-parser,
 * declares each operation's id, tag, security, response schema and ErrorBody errors, and generates exactly
 * the committed client types (test/generated/nexus-api.d.ts; `UPDATE_GENERATED=1` rewrites them).
 */
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import SwaggerParser from "@apidevtools/swagger-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, removeDir, startTestAppliance, type TestAppliance, tempDir } from "../helpers/appliance.js";
import { GENERATED_TYPES, generatedClientTypes } from "../helpers/openapi.js";
import { setupAdmin } from "../helpers/people.js";

interface Op {
  operationId?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string }[];
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
interface Doc {
  openapi: string;
  paths: Record<string, Record<string, Op>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

/** Every service of the registry (services/registry.ts). */
const SERVICES = ["identity", "files", "system", "forms", "media", "ai"] as const;
const SERVICE = SERVICES.join("|");

let app: TestAppliance;
let doc: Doc;
let docFile: string;
const dir = tempDir("nexus-openapi-");

beforeAll(async () => {
  app = await startTestAppliance({
    services: [...SERVICES],
    // The document does not depend on the installed packs: skip copying them.
    env: { NEXUS_AI_BUILTIN_PACKS: "false" },
  });
  const admin = await setupAdmin(app);
  const res = await fetch(`${app.url}/api/openapi.json`, {
    headers: { authorization: `Bearer ${admin.token}` },
  });
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
  docFile = join(dir, "openapi.json");
  writeFileSync(docFile, JSON.stringify(doc, null, 2));
}, 120_000);

afterAll(async () => {
  await app?.stop();
  if (app) removeDir(app.dataDir);
  removeDir(dir);
});

const operations = () =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ path, method, op })),
  );

describe("the served OpenAPI document", () => {
  it("lints with redocly's recommended rules: 0 errors", async () => {
    const out = await promisify(execFile)(
      join(ROOT, "node_modules/.bin/redocly"),
      ["lint", docFile, "--config", join(ROOT, "redocly.yaml"), "--format", "json"],
      { cwd: ROOT, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
    ).catch((err: { stdout?: string; stderr?: string }) => ({
      stdout: err.stdout ?? "",
      stderr: err.stderr,
    }));
    const report = JSON.parse(out.stdout) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
    };
    const errors = report.problems.filter((p) => p.severity === "error");
    expect(errors.map((p) => `${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`)).toEqual([]);
    expect(report.totals.errors).toBe(0);
  }, 120_000);

  it("validates with swagger-parser", async () => {
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it("is OpenAPI 3.1 with the box's services, the gateway's own paths and no internal routes", () => {
    expect(doc.openapi).toBe("3.1.0");
    const paths = Object.keys(doc.paths);
    for (const p of paths)
      expect(p).toMatch(new RegExp(`^(/api/(${SERVICE}|appliance)/|/(health|ready|metrics)$)`));
    expect(paths.filter((p) => p.includes("/internal"))).toEqual([]);
    expect(paths).toEqual(
      expect.arrayContaining([
        "/api/files/spaces/{space}/content",
        "/api/identity/users",
        "/api/system/info",
        "/api/appliance/status",
        "/health",
        "/ready",
        "/metrics",
      ]),
    );
  });

  it("gives every operation a unique camelCase operationId and its service's tag", () => {
    const ids = operations().map(({ op }) => op.operationId);
    for (const id of ids) expect(id).toMatch(new RegExp(`^(${SERVICE}|appliance|gateway)[A-Z][A-Za-z0-9]*$`));
    expect(new Set(ids).size).toBe(ids.length);
    // The gateway's own paths (/health, /ready, /metrics, /api/appliance/…) are tagged `appliance`.
    const tagOf = (path: string) => (path.startsWith("/api/") ? path.split("/")[2] : "appliance");
    for (const { path, op } of operations()) expect(op.tags).toEqual([tagOf(path)]);
  });

  it("declares the real security: none for public routes, bearer, API key or cookie + CSRF otherwise", () => {
    const open = operations()
      .filter(({ op }) => op.security?.length === 0)
      .map(({ method, path }) => `${method.toUpperCase()} ${path}`)
      .sort();
    expect(open).toEqual(
      [
        "GET /api/files/s/{token}",
        // An app user's key in the URL is the credential (services/forms/openrosa-doc.ts).
        "GET /api/forms/openrosa/key/{token}/formList",
        "GET /api/forms/openrosa/key/{token}/forms/{formId}/{version}/attachments/{name}",
        "GET /api/forms/openrosa/key/{token}/forms/{formId}/{version}/form.xml",
        "GET /api/forms/openrosa/key/{token}/forms/{formId}/{version}/manifest",
        "GET /api/forms/openrosa/key/{token}/submission",
        "POST /api/forms/openrosa/key/{token}/submission",
        "GET /api/identity/jwks",
        "GET /api/identity/setup",
        "OPTIONS /api/files/tus",
        "POST /api/files/s/{token}",
        "POST /api/identity/login",
        "POST /api/identity/setup",
        "GET /health",
        "GET /ready",
      ].sort(),
    );
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      "apiKey",
      "bearer",
      "csrf",
      "session",
    ]);
    expect(doc.paths["/api/identity/users"]!.post!.security).toEqual([
      { bearer: ["identity:users:write"] },
      { apiKey: ["identity:users:write"] },
      { session: ["identity:users:write"], csrf: [] },
    ]);
    expect(doc.paths["/api/forms/me/openrosa/submission"]!.post!.security).toEqual([
      { bearer: ["forms:submit"] },
      { apiKey: ["forms:submit"] },
      { session: ["forms:submit"], csrf: [] },
    ]);
    expect(doc.paths["/api/forms/me/openrosa/formList"]!.get!.security).toEqual([
      { bearer: ["forms:read"] },
      { apiKey: ["forms:read"] },
      { session: ["forms:read"] },
    ]);
    expect(doc.paths["/api/identity/me"]!.get!.security).toEqual([
      { bearer: [] },
      { apiKey: [] },
      { session: [] },
    ]);
  });

  it("gives every JSON success a schema and every error the ErrorBody shape", () => {
    expect(doc.components.schemas.ErrorBody).toMatchObject({ required: ["status", "message", "data"] });
    for (const { path, method, op } of operations()) {
      const where = `${method} ${path}`;
      expect(
        Object.keys(op.responses).some((s) => /^2/.test(s)),
        where,
      ).toBe(true);
      for (const [status, r] of Object.entries(op.responses)) {
        const json = r.content?.["application/json"];
        if (/^2/.test(status) && json) expect(json.schema, where).not.toEqual({});
        // /ready's 503 is its readiness report ("degraded"), not an error.
        if (/^[45]|default/.test(status) && !(path === "/ready" && status === "503"))
          expect(json?.schema, `${where} ${status}`).toEqual({ $ref: "#/components/schemas/ErrorBody" });
      }
      expect(op.responses["429"], where).toBeDefined();
      if (op.security?.length) expect(op.responses["401"] && op.responses["403"], where).toBeDefined();
    }
  });

  it("declares the query parameters and headers the handlers read", () => {
    const names = (path: string, method: string) =>
      (doc.paths[path]![method]!.parameters ?? []).map((p) => `${p.in}:${p.name}`).sort();
    expect(names("/api/files/spaces/{space}/content", "get")).toEqual(
      expect.arrayContaining([
        "query:path",
        "query:version",
        "query:inline",
        "header:range",
        "header:if-none-match",
      ]),
    );
    expect(names("/api/files/spaces/{space}/content", "put")).toEqual(
      expect.arrayContaining(["query:path", "header:x-content-sha256", "header:if-match"]),
    );
    expect(names("/api/identity/users", "get")).toEqual(["query:limit", "query:offset", "query:search"]);
    expect(names("/api/files/s/{token}", "get")).toContain("header:x-share-password");
    expect(names("/api/files/tus/{id}", "patch")).toContain("header:upload-offset");
  });

  it("generates the committed client types", async () => {
    const generated = await generatedClientTypes(doc);
    if (process.env.UPDATE_GENERATED) writeFileSync(GENERATED_TYPES, generated);
    expect(generated).toBe(readFileSync(GENERATED_TYPES, "utf8"));
  });
});
