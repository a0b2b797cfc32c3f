import { describe, expect, it } from "vitest";
import { bootstrapTokenAuth } from "../../appliance/gateway/auth.js";

describe("bootstrapTokenAuth", () => {
  const token = "s3cret-token_abcdefghijklmnopqrstuvwxyz012345";
  const auth = bootstrapTokenAuth(token);
  const ask = (authorization?: string) =>
    auth({ method: "GET", path: "/api/echo/hello", headers: authorization ? { authorization } : {} });

  it("accepts the token, again and again, and refuses anything else", () => {
    for (let i = 0; i < 3; i++) expect(ask(`Bearer ${token}`)).toMatchObject({ id: "bootstrap-admin" });
    expect(ask()).toBeNull();
    expect(ask(`Basic ${token}`)).toBeNull();
    expect(ask(`Bearer ${token}x`)).toBeNull();
    expect(ask(`Bearer ${token.slice(1)}`)).toBeNull();
    expect(ask(`Bearer ${token.slice(0, -1)}X`)).toBeNull();
    // Same number of characters, more bytes: refused on length, not cut to fit.
    expect(ask(`Bearer ${token.slice(0, -1)}é`)).toBeNull();
    // A refused token leaves nothing behind that would let the next check pass.
    expect(ask(`Bearer ${token}`)).toMatchObject({ id: "bootstrap-admin" });
    expect(ask(`Bearer ${"x".repeat(token.length)}`)).toBeNull();
  });
});
