/**
 * API keys: shown once, stored hashed, scoped, revocable, expiring.
 *
 * Part of the identity service's end-to-end tests, against real appliances (supervisor, nats-server, identity +
 * system processes, the gateway); the harness is test/helpers/identity.ts. States that would take minutes to
 * reach on the clock are set directly in identity.db. Every secret the tests handle is recorded, and the file's
 * afterAll checks that none reached a log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashSecret } from "../../services/identity/totp.js";
import { waitFor } from "../helpers/appliance.js";
import {
  addRole,
  addUser,
  auditEntries,
  type Body,
  type Box,
  bearer,
  call,
  createKey,
  everyDbValue,
  expectError,
  finishIdentityFile,
  LOCALHOST,
  loginOk,
  ONE_APPLIANCE,
  ONE_APPLIANCE_ENV,
  REVOKE_MS,
  type Session,
  secret,
  setupAdmin,
  startIdentity,
} from "../helpers/identity.js";

afterAll(finishIdentityFile);

describe(ONE_APPLIANCE, () => {
  let box: Box;
  let admin: Session;
  beforeAll(async () => {
    box = await startIdentity(ONE_APPLIANCE_ENV);
    admin = await setupAdmin(box, "admin");
  });
  afterAll(async () => {
    await box?.stop();
  });

  describe("API keys", () => {
    let owner: Session;
    let key: { id: string; secret: string; body: Body };
    beforeAll(async () => {
      const u = await addUser(box, admin, "key-owner", ["operator"]);
      owner = await loginOk(box, u.username, u.password);
      key = await createKey(box, bearer(owner), ["system:read"]);
    });

    it("the secret is shown once, in the creation answer only", async () => {
      expect(key.secret).toMatch(new RegExp(`^nxk_${key.id}_[A-Za-z0-9_-]{43}$`));
      expect(key.body).toMatchObject({
        name: "test key",
        permissions: ["system:read"],
        expiresAt: null,
        revokedAt: null,
        lastUsedAt: null,
      });
      const tail = key.secret.split("_").slice(2).join("_");
      for (const path of ["/me/api-keys", "/api-keys"]) {
        const r = await call(box, "GET", path, { as: bearer(path === "/api-keys" ? admin : owner) });
        expect(r.status).toBe(200);
        const listed = r.body.keys.find((k: Body) => k.id === key.id);
        expect(listed).toBeDefined();
        expect(listed).not.toHaveProperty("secret");
        expect(listed).not.toHaveProperty("secretHash");
        expect(r.text).not.toContain(tail);
      }
    });

    it("is stored hashed: no row of identity.db holds the secret or its random part", () => {
      const tail = key.secret.split("_").slice(2).join("_");
      const values = everyDbValue(box);
      expect(values.length).toBeGreaterThan(50);
      for (const v of values) {
        expect(v.includes(key.secret)).toBe(false);
        expect(v.includes(tail)).toBe(false);
      }
      const row = box.db().prepare("SELECT secret_hash FROM api_keys WHERE id = ?").get(key.id);
      expect(row).toEqual({ secret_hash: hashSecret(key.secret) });
      // No plaintext password either.
      for (const v of values) expect(v.includes(owner.password)).toBe(false);
    });

    it("works as x-api-key and as a bearer; acts only within its scope", async () => {
      for (const keyVia of ["x-api-key", "bearer"] as const) {
        const as = { key: key.secret, keyVia };
        const me = await call(box, "GET", "/me", { as });
        expect(me.status).toBe(200);
        expect(me.body).toMatchObject({ id: owner.id, via: "api-key", permissions: ["system:read"] });
        expect((await call(box, "GET", "/api/system/settings", { as })).status).toBe(200);
        const put = await call(box, "PUT", "/api/system/settings/key.probe", { as, body: { value: "x" } });
        expectError(put, 403, "permission denied");
        expect(put.body.data).toEqual({ needs: "system:write" });
        expectError(await call(box, "GET", "/api/identity/users", { as }), 403);
      }
      // …although its owner (an operator) may write settings.
      const put = await call(box, "PUT", "/api/system/settings/key.probe", {
        as: bearer(owner),
        body: { value: "owner" },
      });
      expect(put.status).toBe(200);
      expect(
        (await call(box, "GET", "/api/system/settings/key.probe", { as: { key: key.secret } })).body.value,
      ).toBe("owner");
    });

    const KEY_CANNOT: [what: string, method: string, path: string, body: unknown, status: number][] = [
      ["create API keys", "POST", "/me/api-keys", { name: "child", permissions: ["system:read"] }, 403],
      ["enrol MFA", "POST", "/me/mfa/enroll", undefined, 403],
      ["confirm MFA", "POST", "/me/mfa/confirm", { code: "123456" }, 403],
      ["turn MFA off", "POST", "/me/mfa/disable", { password: "x" }, 403],
      ["change the password", "POST", "/me/password", { currentPassword: "x", newPassword: "y" }, 403],
      ["end every session", "POST", "/logout-all", undefined, 403],
      ["end a session", "DELETE", "/me/sessions/00000000-0000-0000-0000-000000000000", undefined, 403],
      ["mint an access token", "POST", "/token", undefined, 401],
    ];
    it.each(KEY_CANNOT)("an API key cannot %s", async (_what, method, path, body, status) => {
      const r = await call(box, method, path, { as: { key: key.secret }, body });
      expectError(r, status, status === 403 ? "API keys cannot" : "session ended");
      expect((await call(box, "GET", "/me", { as: bearer(owner) })).body.mfaEnabled).toBe(false);
      expect((await call(box, "GET", "/me", { as: { cookie: owner.cookie } })).status).toBe(200);
    });

    it("cannot be created with permissions its owner lacks", async () => {
      const u = await addUser(box, admin, "key-viewer", ["viewer"]);
      const v = await loginOk(box, u.username, u.password);
      for (const permissions of [
        ["system:write"],
        ["*"],
        ["system:*"],
        ["system:read", "identity:users:read"],
        ["files:read:extra"],
      ]) {
        const r = await call(box, "POST", "/me/api-keys", {
          as: bearer(v),
          body: { name: "grab", permissions },
        });
        expectError(r, 403, "cannot grant");
        expect(r.body.data.missing.length).toBeGreaterThan(0);
      }
      const ok = await call(box, "POST", "/me/api-keys", {
        as: bearer(v),
        body: { name: "fine", permissions: ["system:read", "files:read"] },
      });
      expect(ok.status).toBe(201);
      secret("api key", ok.body.secret);
      expect((await call(box, "GET", "/me/api-keys", { as: bearer(v) })).body.keys).toHaveLength(1);
    });

    it("records last use (and audits it)", async () => {
      const r = await call(box, "GET", "/me/api-keys", { as: bearer(owner) });
      const listed = r.body.keys.find((k: Body) => k.id === key.id);
      expect(listed.lastUsedAt).not.toBeNull();
      expect(Date.now() - Date.parse(listed.lastUsedAt)).toBeLessThan(120_000);
      const used = await auditEntries(box, bearer(admin), `&action=apikey.used&target=${key.id}`);
      expect(used.length).toBeGreaterThanOrEqual(1);
      expect(used[0].actor).toBe("key-owner");
      const created = await auditEntries(box, bearer(admin), `&action=apikey.created&target=${key.id}`);
      expect(created[0]).toMatchObject({ actor: "key-owner", details: { permissions: ["system:read"] } });
      expect(created[0].ip).toMatch(LOCALHOST);
    });

    const MALFORMED: [name: string, make: (s: string) => string][] = [
      ["last character changed", (s) => s.slice(0, -1) + (s.endsWith("A") ? "B" : "A")],
      ["id of another key", (s) => s.replace(/^nxk_[A-Za-z0-9]{12}/, `nxk_${"Z".repeat(12)}`)],
      ["one character short", (s) => s.slice(0, -1)],
      ["prefix only", () => "nxk_"],
      ["600 characters", (s) => s + "a".repeat(600)],
      ["upper-case prefix", (s) => s.replace("nxk_", "NXK_")],
    ];
    it.each(MALFORMED)("a broken key (%s) → 401", async (_name, make) => {
      for (const keyVia of ["x-api-key", "bearer"] as const) {
        const r = await call(box, "GET", "/api/system/settings", { as: { key: make(key.secret), keyVia } });
        expectError(r, 401);
      }
    });

    it("a revoked key stops working within the cache time; revoking again → 404", async () => {
      const k = await createKey(box, bearer(owner), ["system:read"]);
      expect((await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status).toBe(200);
      const r = await call(box, "DELETE", `/me/api-keys/${k.id}`, { as: bearer(owner) });
      expect(r.status).toBe(200);
      await waitFor(
        async () =>
          (await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status === 401,
        REVOKE_MS,
        "revoked key refused",
      );
      expectError(await call(box, "DELETE", `/me/api-keys/${k.id}`, { as: bearer(owner) }), 404);
      const listed = (await call(box, "GET", "/me/api-keys", { as: bearer(owner) })).body.keys.find(
        (x: Body) => x.id === k.id,
      );
      expect(listed.revokedAt).not.toBeNull();
    });

    it("an admin can revoke anyone's key", async () => {
      const k = await createKey(box, bearer(owner), ["system:read"]);
      expect((await call(box, "DELETE", `/api-keys/${k.id}`, { as: bearer(admin) })).status).toBe(200);
      await waitFor(
        async () =>
          (await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status === 401,
        REVOKE_MS,
        "revoked key refused",
      );
      const [e] = await auditEntries(box, bearer(admin), `&action=apikey.revoked&target=${k.id}`);
      expect(e.actor).toBe("admin");
    });

    it("an expired key → 401 (its expiry moved into the past in identity.db)", async () => {
      const k = await createKey(box, bearer(owner), ["system:read"], { expiresInDays: 1 });
      expect(Date.parse(k.body.expiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
      expect((await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status).toBe(200);
      box
        .db()
        .prepare("UPDATE api_keys SET expires_at = ? WHERE id = ?")
        .run(Date.now() - 1000, k.id);
      await waitFor(
        async () =>
          (await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status === 401,
        REVOKE_MS,
        "expired key refused",
      );
    });

    it("a key never outlives its owner's permissions (demoted to identity:*, which is one segment)", async () => {
      await addRole(box, admin, "identity-wild", ["identity:*"]);
      const u = await addUser(box, admin, "key-demoted", ["admin"]);
      const s = await loginOk(box, u.username, u.password);
      const k = await createKey(box, bearer(s), ["identity:users:write"]);
      // Authorised: the service sees it and refuses the empty body.
      expectError(await call(box, "POST", "/users", { as: { key: k.secret }, body: {} }), 400);
      const r = await call(box, "PATCH", `/users/${u.id}`, {
        as: bearer(admin),
        body: { roles: ["identity-wild"] },
      });
      expect(r.status).toBe(200);
      await waitFor(
        async () => (await call(box, "POST", "/users", { as: { key: k.secret }, body: {} })).status === 403,
        REVOKE_MS,
        "demoted owner's key refused",
      );
      expect((await call(box, "GET", "/me", { as: { key: k.secret } })).body.permissions).toEqual([]);
    });

    it("a disabled owner's keys stop working", async () => {
      const u = await addUser(box, admin, "key-disabled", ["viewer"]);
      const s = await loginOk(box, u.username, u.password);
      const k = await createKey(box, bearer(s), ["system:read"]);
      expect((await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status).toBe(200);
      expect(
        (await call(box, "PATCH", `/users/${u.id}`, { as: bearer(admin), body: { status: "disabled" } }))
          .status,
      ).toBe(200);
      await waitFor(
        async () =>
          (await call(box, "GET", "/api/system/settings", { as: { key: k.secret } })).status === 401,
        REVOKE_MS,
        "disabled owner's key refused",
      );
    });
  });
});
