import { describe, expect, it } from "vitest";
import { accessFor, hasPermission, rule } from "../../appliance/kit/access.js";

describe("accessFor", () => {
  const rules = [
    rule("POST", "/login", "public"),
    rule("GET", "/me", "authenticated"),
    rule("GET", "/users/:id", "identity:users:read"),
    rule("*", "/files/*", "files:read"),
  ];
  it.each([
    ["POST", "/login", "public"],
    ["GET", "/login", { permission: "*" }],
    ["GET", "/me", "authenticated"],
    ["HEAD", "/me", "authenticated"],
    ["GET", "/users/42", { permission: "identity:users:read" }],
    ["GET", "/users/", { permission: "*" }],
    ["GET", "/users/42/extra", { permission: "*" }],
    ["DELETE", "/files/a/b/c", { permission: "files:read" }],
    ["GET", "/unknown", { permission: "*" }],
  ])("%s %s → %j", (method, path, expected) => {
    expect(accessFor(rules, method, path)).toEqual(expected);
  });
});

describe("hasPermission", () => {
  it.each([
    [["*"], "identity:users:write", true],
    [["identity:users:read"], "identity:users:read", true],
    [["identity:users:read"], "identity:users:write", false],
    [["identity:*:read"], "identity:audit:read", true],
    [["system:*"], "system:read", true],
    [["system:*"], "system:settings:read", false],
    [["system:read"], "*", false],
    [[], "system:read", false],
  ])("%j covers %s: %s", (granted, needed, ok) => {
    expect(hasPermission(granted, needed)).toBe(ok);
  });
});
