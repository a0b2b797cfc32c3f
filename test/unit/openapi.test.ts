/** The OpenAPI plumbing as plain functions: security from access rules, finishing operations, merging. */
import { describe, expect, it } from "vitest";
import { aggregateOpenApi, servicePaths } from "../../appliance/gateway/openapi.js";
import { rule } from "../../appliance/kit/access.js";
import { finishOperations, type PathItem, securityOf } from "../../appliance/kit/openapi.js";

describe("securityOf", () => {
  it.each([
    ["public", "post", []],
    ["authenticated", "get", [{ bearer: [] }, { apiKey: [] }, { session: [] }]],
    [
      "files:write",
      "put",
      [{ bearer: ["files:write"] }, { apiKey: ["files:write"] }, { session: ["files:write"], csrf: [] }],
    ],
  ])("%s %s", (access, method, expected) => {
    expect(securityOf(rule("*", "/x", access), method)).toEqual(expected);
  });
});

describe("finishOperations", () => {
  const ok = { 200: { description: "ok" } };
  it("takes security from the rule matching each path, and adds the standard errors and missing ids", () => {
    const paths: Record<string, PathItem> = {
      "/login": { post: { operationId: "login", responses: { ...ok } } },
      "/users/{id}": { get: { responses: { ...ok, 404: { description: "mine" } } } },
      "/spaces/{space}/content": { put: { operationId: "putFile", responses: { ...ok } } },
    };
    finishOperations(paths, [
      rule("POST", "/login", "public"),
      rule("GET", "/users/:id", "identity:users:read"),
      rule("PUT", "/spaces/:space/content/*", "files:write"),
    ]);
    const login = paths["/login"]!.post!;
    expect(login.security).toEqual([]);
    expect(Object.keys(login.responses ?? {}).sort()).toEqual(["200", "429", "default"]);
    const user = paths["/users/{id}"]!.get!;
    expect(user.operationId).toBe("getUsersId");
    expect(user.security).toEqual([
      { bearer: ["identity:users:read"] },
      { apiKey: ["identity:users:read"] },
      { session: ["identity:users:read"] },
    ]);
    expect(user.responses?.["404"]).toEqual({ description: "mine" });
    expect(Object.keys(user.responses ?? {}).sort()).toEqual(["200", "401", "403", "404", "429", "default"]);
    expect(paths["/spaces/{space}/content"]!.put!.security).toHaveLength(3);
  });
});

describe("aggregation", () => {
  const doc = {
    paths: {
      "/users": { get: { operationId: "listUsers", tags: ["x"], responses: {} } },
      "/internal/introspect": { post: { operationId: "introspect", responses: {} } },
    },
  };
  it("puts a service's paths under /api/<service>, prefixes ids, tags them, drops /internal", () => {
    expect(servicePaths("identity", doc as never)).toEqual({
      "/api/identity/users": { get: { operationId: "identityListUsers", tags: ["identity"], responses: {} } },
    });
  });

  it("merges the gateway's own operations as given, tagged appliance", async () => {
    const gatewayDoc = {
      paths: { "/health": { get: { operationId: "health", security: [], responses: {} } } },
      components: { schemas: { Health: { type: "object" } } },
    };
    const merged = await aggregateOpenApi(new Map(), "1.2.3", "token", { gatewayDoc });
    expect(merged.openapi).toBe("3.1.0");
    expect(merged.paths).toEqual({
      "/health": { get: { operationId: "health", security: [], responses: {}, tags: ["appliance"] } },
    });
    expect(merged.components.schemas).toEqual({ Health: { type: "object" } });
    expect(merged.tags.map((t) => t.name)).toEqual(["appliance"]);
    expect(Object.keys(merged.components.securitySchemes).sort()).toEqual([
      "apiKey",
      "bearer",
      "csrf",
      "session",
    ]);
  });
});
