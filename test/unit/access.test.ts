import { describe, expect, it } from "vitest";
import { accessFor, hasPermission, rule, ruleFor } from "../../appliance/kit/access.js";

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

  it("answers the same from its memory of matched paths, also after that memory starts over", () => {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 1200; i++) {
        expect(ruleFor(rules, "get", `/users/${i}`)).toBe(rules[2]);
        expect(ruleFor(rules, "GET", `/users/${i}/x`).access).toEqual({ permission: "*" });
      }
      expect(ruleFor(rules, "head", "/me")).toBe(rules[1]);
      expect(ruleFor(rules, "POST", `/files/${"a".repeat(300)}`)).toBe(rules[3]);
    }
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
