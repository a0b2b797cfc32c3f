/**
 * Access tokens at the gateway (signature, claims, forgeries, rotation, revocation), cookie sessions
 * and CSRF, and expiry of tokens and idle sessions on the real clock.
 *
 * Part of the identity service's end-to-end tests, against real appliances (supervisor, nats-server, identity +
 * system processes, the gateway); the harness is test/helpers/identity.ts. States that would take minutes to
 * reach on the clock are set directly in identity.db. Every secret the tests handle is recorded, and the file's
 * afterAll checks that none reached a log.
 */
import { createHmac, createPublicKey, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey, signJwt, type TokenClaims } from "../../appliance/kit/jwt.js";
import { hashSecret } from "../../services/identity/totp.js";
import { waitFor } from "../helpers/appliance.js";
import {
  addUser,
  auditEntries,
  type Body,
  type Box,
  b64,
  bearer,
  CSRF_MESSAGE,
  call,
  claimsOf,
  cookieValue,
  everyDbValue,
  expectError,
  expectErrorShape,
  finishIdentityFile,
  headerOf,
  LOCALHOST,
  login,
  loginOk,
  ONE_APPLIANCE,
  ONE_APPLIANCE_ENV,
  REVOKE_MS,
  type Session,
  secret,
  sessionFrom,
  setupAdmin,
  signingKey,
  startIdentity,
  type UserInfo,
  withCookie,
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

  describe("access tokens at the gateway", () => {
    let viewer: Session;
    beforeAll(async () => {
      const u = await addUser(box, admin, "token-viewer", ["viewer"]);
      viewer = await loginOk(box, u.username, u.password);
    });

    it("carry the site issuer, audience, subject, session, roles and lifetime; the kid is in the JWKS", async () => {
      const c = claimsOf(viewer.token);
      expect(c).toMatchObject({
        iss: "nexus-edge:local",
        aud: "nexus-edge",
        sub: viewer.id,
        name: viewer.username,
        roles: ["viewer"],
      });
      expect(c.exp - c.iat).toBe(3600);
      expect(c.nbf).toBe(c.iat);
      expect(c.sid).toMatch(/^[0-9a-f-]{36}$/);
      const h = headerOf(viewer.token);
      expect(h).toEqual({ alg: "ES256", typ: "JWT", kid: signingKey(box).kid });
      const jwks = await call(box, "GET", "/jwks");
      expect(jwks.body.keys.map((k: Body) => k.kid)).toContain(h.kid);
    });

    const FORGERIES: [name: string, make: (box: Box, good: string) => string][] = [
      ["alg none, no signature", (_b, t) => `${b64({ alg: "none", typ: "JWT" })}.${t.split(".")[1]}.`],
      [
        "alg none with perms *",
        (_b, t) =>
          `${b64({ alg: "none", typ: "JWT", kid: headerOf(t).kid })}.${b64({ ...claimsOf(t), perms: ["*"] })}.`,
      ],
      [
        "HS256 signed with the public key (PEM) as secret",
        (b, t) => {
          const pub = createPublicKey(signingKey(b).pem).export({ type: "spki", format: "pem" }).toString();
          const h = b64({ alg: "HS256", typ: "JWT", kid: headerOf(t).kid });
          const p = b64({ ...claimsOf(t), perms: ["*"] });
          return `${h}.${p}.${createHmac("sha256", pub).update(`${h}.${p}`).digest("base64url")}`;
        },
      ],
      [
        "HS256 signed with the JWKS entry as secret",
        (b, t) => {
          const jwk = JSON.stringify(createPublicKey(signingKey(b).pem).export({ format: "jwk" }));
          const h = b64({ alg: "HS256", typ: "JWT", kid: headerOf(t).kid });
          const p = b64({ ...claimsOf(t), perms: ["*"] });
          return `${h}.${p}.${createHmac("sha256", jwk).update(`${h}.${p}`).digest("base64url")}`;
        },
      ],
      [
        "payload tampered (perms *)",
        (_b, t) => {
          const [h, , s] = t.split(".");
          return `${h}.${b64({ ...claimsOf(t), perms: ["*"], roles: ["admin"] })}.${s}`;
        },
      ],
      [
        "payload tampered (another subject)",
        (_b, t) => {
          const [h, , s] = t.split(".");
          return `${h}.${b64({ ...claimsOf(t), sub: "someone-else" })}.${s}`;
        },
      ],
      [
        "signature tampered",
        (_b, t) => {
          const [h, p, s] = t.split(".") as [string, string, string];
          const sig = Buffer.from(s, "base64url");
          sig[10] = (sig[10] ?? 0) ^ 0xff;
          return `${h}.${p}.${sig.toString("base64url")}`;
        },
      ],
      ["signature dropped", (_b, t) => `${t.split(".").slice(0, 2).join(".")}.`],
      [
        "signed by an unknown key (unknown kid)",
        (_b, t) => {
          const k = generateSigningKey("ffffffffffffffff");
          return signJwt({ ...claimsOf(t), perms: ["*"] }, "ffffffffffffffff", k.privatePem);
        },
      ],
      [
        "signed by another key under the real kid",
        (_b, t) => {
          const k = generateSigningKey("x");
          return signJwt(claimsOf(t), headerOf(t).kid, k.privatePem);
        },
      ],
      [
        "expired (real key, beyond the skew)",
        (b, t) => {
          const now = Math.floor(Date.now() / 1000);
          return forge(b, { ...claimsOf(t), iat: now - 7200, nbf: now - 7200, exp: now - 120 });
        },
      ],
      [
        "not valid before an hour from now (real key)",
        (b, t) => {
          const now = Math.floor(Date.now() / 1000);
          return forge(b, { ...claimsOf(t), nbf: now + 3600, exp: now + 7200 });
        },
      ],
      [
        "another site's issuer (real key)",
        (b, t) => forge(b, { ...claimsOf(t), iss: "nexus-edge:elsewhere" }),
      ],
      ["another audience (real key)", (b, t) => forge(b, { ...claimsOf(t), aud: "some-other-app" })],
      [
        "no expiry (real key)",
        (b, t) => {
          const c = { ...claimsOf(t) };
          delete c.exp;
          return forge(b, c);
        },
      ],
      ["header JSON null", (_b, t) => `${b64(null)}.${t.split(".")[1]}.${t.split(".")[2]}`],
      ["header JSON number", (_b, t) => `${b64(7)}.${t.split(".")[1]}.${t.split(".")[2]}`],
      ["3-part garbage", () => "a.b.c"],
      ["not base64", () => "!!!.???.***"],
      ["two parts", (_b, t) => t.split(".").slice(0, 2).join(".")],
      ["four parts", (_b, t) => `${t}.${t.split(".")[2]}`],
      [
        "over-long (9000 characters)",
        (_b, t) => {
          const [h, p, s] = t.split(".");
          return `${h}.${p}${"A".repeat(9000)}.${s}`;
        },
      ],
      ["the token twice", (_b, t) => `${t}${t}`],
    ];
    function forge(b: Box, claims: Body): string {
      const k = signingKey(b);
      return signJwt(claims as TokenClaims, k.kid, k.pem);
    }

    it.each(FORGERIES)("%s → 401 at the gateway", async (_name, make) => {
      const token = make(box, viewer.token);
      secret("forged token", token);
      for (const [method, path] of [
        ["GET", "/api/identity/me"],
        ["GET", "/api/identity/users"],
        ["PUT", "/api/system/settings/forged.probe"],
      ] as const) {
        const r = await call(box, method, path, {
          as: { token },
          body: method === "PUT" ? { value: "x" } : undefined,
        });
        expect(r.status, `${method} ${path}: ${r.text}`).toBe(401);
        expectErrorShape(r.body, 401, "authentication required");
      }
      expectError(await call(box, "GET", "/api/system/settings/forged.probe", { as: bearer(admin) }), 404);
    });

    it("the genuine token still works (control) and refreshes through POST /token", async () => {
      expect((await call(box, "GET", "/me", { as: bearer(viewer) })).status).toBe(200);
      const r = await call(box, "POST", "/token", { as: bearer(viewer) });
      expect(r.status).toBe(200);
      secret("access token", r.body.token);
      expect(claimsOf(r.body.token)).toMatchObject({ sub: viewer.id, sid: claimsOf(viewer.token).sid });
      expect((await call(box, "GET", "/me", { as: { token: r.body.token } })).status).toBe(200);
    });

    it("after key rotation a token issued before still works; new tokens carry the new kid", async () => {
      const oldKid = headerOf(viewer.token).kid;
      const rot = await call(box, "POST", "/signing-keys/rotate", { as: bearer(admin) });
      expect(rot.status).toBe(200);
      expect(rot.body.kid).toMatch(/^[0-9a-f]{16}$/);
      expect(rot.body.kid).not.toBe(oldKid);
      const keys = await call(box, "GET", "/signing-keys", { as: bearer(admin) });
      expect(keys.body.keys[0]).toMatchObject({ kid: rot.body.kid, retiredAt: null });
      expect(keys.body.keys.find((k: Body) => k.kid === oldKid).retiredAt).not.toBeNull();
      expect(keys.text).not.toContain("PRIVATE");
      const jwks = (await call(box, "GET", "/jwks")).body.keys.map((k: Body) => k.kid);
      expect(jwks).toEqual(expect.arrayContaining([oldKid, rot.body.kid]));

      expect((await call(box, "GET", "/me", { as: bearer(viewer) })).status).toBe(200);
      const fresh = await loginOk(box, viewer.username, viewer.password);
      expect(headerOf(fresh.token).kid).toBe(rot.body.kid);
      // The gateway refetches the JWKS for an unknown kid at most once a second.
      await waitFor(
        async () => (await call(box, "GET", "/me", { as: bearer(fresh) })).status === 200,
        5000,
        "new-kid token accepted",
      );
      const refreshed = await call(box, "POST", "/token", { as: bearer(viewer) });
      expect(headerOf(refreshed.body.token).kid).toBe(rot.body.kid);
      secret("access token", refreshed.body.token);
      expect((await call(box, "GET", "/me", { as: bearer(viewer) })).status).toBe(200);
      const [e] = await auditEntries(box, bearer(admin), "&action=signing_key.rotated");
      expect(e).toMatchObject({ actor: "admin", target: rot.body.kid, outcome: "success" });
    });

    it("a viewer's token reaching an admin route → 403 with what it needs", async () => {
      const r = await call(box, "GET", "/users", { as: bearer(viewer) });
      expectError(r, 403, "permission denied");
      expect(r.body.data).toEqual({ needs: "identity:users:read" });
    });
  });

  describe("cookie sessions and CSRF", () => {
    let user: UserInfo;
    let s: Session;
    let other: Session;
    beforeAll(async () => {
      user = await addUser(box, admin, "cookie-user", ["operator"]);
      s = await loginOk(box, user.username, user.password);
      other = await loginOk(box, user.username, user.password);
    });

    it("cookie flags: session HttpOnly, both SameSite=Strict, Path=/, the absolute lifetime, not Secure by default", () => {
      const session = s.setCookies.find((c) => c.startsWith("nexus_session="))!;
      const csrf = s.setCookies.find((c) => c.startsWith("nexus_csrf="))!;
      const attrs = (c: string) =>
        c
          .split(";")
          .slice(1)
          .map((a) => a.trim());
      expect(attrs(session).sort()).toEqual(["HttpOnly", "Max-Age=43200", "Path=/", "SameSite=Strict"]);
      // The CSRF cookie is readable by the page on purpose (it sends it back as a header).
      expect(attrs(csrf).sort()).toEqual(["Max-Age=43200", "Path=/", "SameSite=Strict"]);
      expect(cookieValue(s.setCookies, "nexus_csrf")).toBe(s.csrf);
      expect(s.csrf).toMatch(/^[A-Za-z0-9_-]{32}$/);
    });

    it("a cookie alone is enough for GET (and HEAD)", async () => {
      const me = await call(box, "GET", "/me", { as: { cookie: s.cookie } });
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ id: user.id, via: "session" });
      expect((await call(box, "GET", "/api/system/settings", { as: { cookie: s.cookie } })).status).toBe(200);
      const head = await fetch(`${box.url}/api/system/settings`, {
        method: "HEAD",
        headers: { cookie: `nexus_session=${s.cookie}` },
      });
      expect(head.status).toBe(200);
    });

    const CHANGES: [method: string, path: string, body: unknown][] = [
      ["PUT", "/api/system/settings/csrf.probe", { value: "planted" }],
      ["DELETE", "/api/system/settings/csrf.keep", undefined],
      ["POST", "/api/identity/token", undefined],
      ["POST", "/api/identity/me/api-keys", { name: "csrf", permissions: ["system:read"] }],
      ["POST", "/api/identity/me/mfa/enroll", undefined],
      ["POST", "/api/identity/logout-all", undefined],
      ["POST", "/api/identity/logout", undefined],
      ["POST", "/api/identity/me/password", { currentPassword: "x", newPassword: "y" }],
    ];
    const BAD_CSRF: [name: string, headers: (s: Session, o: Session) => Record<string, string>][] = [
      ["no x-csrf-token", () => ({})],
      ["empty x-csrf-token", () => ({ "x-csrf-token": "" })],
      [
        "wrong token, same length",
        (x) => ({ "x-csrf-token": x.csrf.replace(/^./, (c) => (c === "A" ? "B" : "A")) }),
      ],
      ["one character short", (x) => ({ "x-csrf-token": x.csrf.slice(0, -1) })],
      ["another session's token", (_x, o) => ({ "x-csrf-token": o.csrf })],
      [
        "the token as a cookie only (no header)",
        (x) => ({ cookie: `nexus_session=${x.cookie}; nexus_csrf=${x.csrf}` }),
      ],
      ["the session secret as the token", (x) => ({ "x-csrf-token": x.cookie })],
      ["the token in another header", (x) => ({ "x-xsrf-token": x.csrf, "csrf-token": x.csrf })],
      ["the token in the query string", () => ({})],
    ];

    it("setup: a setting exists to delete", async () => {
      const r = await call(box, "PUT", "/api/system/settings/csrf.keep", {
        as: bearer(admin),
        body: { value: "keep" },
      });
      expect(r.status).toBe(200);
    });

    it.each(BAD_CSRF)(
      "cookie + %s → 403 on every state-changing route, nothing changes",
      async (name, headers) => {
        for (const [method, path, body] of CHANGES) {
          const target = name.includes("query") ? `${path}?csrf=${s.csrf}&x-csrf-token=${s.csrf}` : path;
          const r = await call(box, method, target, {
            as: { cookie: s.cookie },
            body,
            headers: headers(s, other),
          });
          expect(r.status, `${method} ${path}: ${r.text}`).toBe(403);
          expectErrorShape(r.body, 403, CSRF_MESSAGE);
        }
        expectError(await call(box, "GET", "/api/system/settings/csrf.probe", { as: bearer(admin) }), 404);
        expect(
          (await call(box, "GET", "/api/system/settings/csrf.keep", { as: bearer(admin) })).body.value,
        ).toBe("keep");
        expect((await call(box, "GET", "/me/api-keys", { as: { cookie: s.cookie } })).body.keys).toEqual([]);
        expect((await call(box, "GET", "/me", { as: { cookie: s.cookie } })).body.mfaEnabled).toBe(false);
        expect((await call(box, "GET", "/me", { as: { cookie: other.cookie } })).status).toBe(200);
      },
    );

    it("with the right x-csrf-token the same requests go through", async () => {
      const put = await call(box, "PUT", "/api/system/settings/csrf.probe", {
        as: withCookie(s),
        body: { value: "ok" },
      });
      expect(put.status).toBe(200);
      expect(
        (await call(box, "DELETE", "/api/system/settings/csrf.probe", { as: withCookie(s) })).status,
      ).toBe(200);
      const tok = await call(box, "POST", "/token", { as: withCookie(s) });
      expect(tok.status).toBe(200);
      secret("access token", tok.body.token);
      expect(claimsOf(tok.body.token).sub).toBe(user.id);
    });

    it("a bearer token needs no CSRF token (it cannot ride along cross-site)", async () => {
      const r = await call(box, "PUT", "/api/system/settings/csrf.bearer", {
        as: bearer(s),
        body: { value: "ok" },
      });
      expect(r.status).toBe(200);
    });

    it("session fixation: a planted cookie is refused and login issues a fresh random session", async () => {
      const planted = randomBytes(32).toString("base64url");
      expectError(await call(box, "GET", "/me", { as: { cookie: planted } }), 401);
      const seen = new Set<string>([planted, s.cookie, other.cookie]);
      const sids = new Set<string>([claimsOf(s.token).sid, claimsOf(other.token).sid]);
      for (let i = 0; i < 3; i++) {
        const r = await login(box, user.username, user.password, {
          cookie: `nexus_session=${planted}; nexus_csrf=planted`,
        });
        const fresh = sessionFrom(r, user.username, user.password);
        expect(seen.has(fresh.cookie), "session secret reused").toBe(false);
        expect(sids.has(claimsOf(fresh.token).sid), "session id reused").toBe(false);
        expect(fresh.csrf).not.toBe("planted");
        seen.add(fresh.cookie);
        sids.add(claimsOf(fresh.token).sid);
        expect((await call(box, "GET", "/me", { as: { cookie: fresh.cookie } })).status).toBe(200);
      }
      expectError(await call(box, "GET", "/me", { as: { cookie: planted } }), 401);
      const row = box.db().prepare("SELECT 1 FROM sessions WHERE secret_hash = ?").get(hashSecret(planted));
      expect(row).toBeUndefined();
      // Only hashes of the secrets are stored.
      const hashes = box.db().prepare("SELECT secret_hash FROM sessions WHERE user_id = ?").all(user.id) as {
        secret_hash: string;
      }[];
      for (const c of seen) if (c !== planted) expect(hashes).toContainEqual({ secret_hash: hashSecret(c) });
      for (const v of everyDbValue(box)) expect(v.includes(s.cookie)).toBe(false);
    });

    it("/me/sessions marks the current one; another user's session cannot be ended (404)", async () => {
      const mine = await call(box, "GET", "/me/sessions", { as: { cookie: s.cookie } });
      expect(mine.status).toBe(200);
      const current = mine.body.sessions.filter((x: Body) => x.current);
      expect(current).toHaveLength(1);
      expect(current[0].id).toBe(claimsOf(s.token).sid);
      expect(mine.body.sessions[0]).toMatchObject({ ip: expect.stringMatching(LOCALHOST) });
      expect(mine.text).not.toContain(s.cookie);

      const u2 = await addUser(box, admin, "cookie-other", ["viewer"]);
      const s2 = await loginOk(box, u2.username, u2.password);
      const r = await call(box, "DELETE", `/me/sessions/${claimsOf(s.token).sid}`, { as: bearer(s2) });
      expectError(r, 404, "no such session");
      expect((await call(box, "GET", "/me", { as: { cookie: s.cookie } })).status).toBe(200);
      // …nor listed: a viewer has no identity:users:read.
      expectError(await call(box, "GET", `/users/${user.id}/sessions`, { as: bearer(s2) }), 403);
    });

    it("logout revokes the session (within the gateway's cache) and clears the cookies", async () => {
      const a = await loginOk(box, user.username, user.password);
      const b = await loginOk(box, user.username, user.password);
      expect((await call(box, "GET", "/me", { as: { cookie: a.cookie } })).status).toBe(200);
      const out = await call(box, "POST", "/logout", { as: withCookie(a) });
      expect(out.status).toBe(200);
      expect(out.body).toEqual({ loggedOut: true });
      const cleared = out.headers.getSetCookie();
      expect(cleared).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^nexus_session=; HttpOnly; .*Max-Age=0/),
          expect.stringMatching(/^nexus_csrf=; .*Max-Age=0/),
        ]),
      );
      await waitFor(
        async () => (await call(box, "GET", "/me", { as: { cookie: a.cookie } })).status === 401,
        REVOKE_MS,
        "logged-out cookie refused",
      );
      expectError(await call(box, "POST", "/token", { as: bearer(a) }), 401, "session ended");
      expect((await call(box, "GET", "/me", { as: { cookie: b.cookie } })).status).toBe(200);
      const [e] = await auditEntries(box, bearer(admin), `&action=logout&actor=${user.username}`);
      expect(e.ip).toMatch(LOCALHOST);
    });

    it("logout-all revokes every session of the user, not other users'", async () => {
      const u = await addUser(box, admin, "logout-all-user", ["viewer"]);
      const sessions = [];
      for (let i = 0; i < 3; i++) sessions.push(await loginOk(box, u.username, u.password));
      for (const x of sessions)
        expect((await call(box, "GET", "/me", { as: { cookie: x.cookie } })).status).toBe(200);
      const r = await call(box, "POST", "/logout-all", { as: bearer(sessions[0]!) });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ revoked: 3 });
      for (const x of sessions) {
        await waitFor(
          async () => (await call(box, "GET", "/me", { as: { cookie: x.cookie } })).status === 401,
          REVOKE_MS,
          "revoked cookie refused",
        );
        expectError(await call(box, "POST", "/token", { as: bearer(x) }), 401, "session ended");
      }
      expect((await call(box, "GET", "/me", { as: { cookie: s.cookie } })).status).toBe(200);
      const [e] = await auditEntries(box, bearer(admin), "&action=logout.all");
      expect(e).toMatchObject({ actor: u.username, details: { sessions: 3 } });
    });

    it("an idle session ends (last use moved back past the idle limit in identity.db)", async () => {
      const u = await addUser(box, admin, "idle-user", ["viewer"]);
      const idle = await loginOk(box, u.username, u.password);
      const busy = await loginOk(box, u.username, u.password);
      const sid = claimsOf(idle.token).sid;
      box
        .db()
        .prepare("UPDATE sessions SET last_seen_at = ? WHERE id = ?")
        .run(Date.now() - 31 * 60_000, sid);
      await waitFor(
        async () => (await call(box, "GET", "/me", { as: { cookie: idle.cookie } })).status === 401,
        REVOKE_MS,
        "idle cookie refused",
      );
      expectError(await call(box, "POST", "/token", { as: bearer(idle) }), 401, "session ended");
      const listed = await call(box, "GET", "/me/sessions", { as: { cookie: busy.cookie } });
      expect(listed.body.sessions.map((x: Body) => x.id)).toEqual([claimsOf(busy.token).sid]);
    });

    it("a disabled user's cookie stops working", async () => {
      const u = await addUser(box, admin, "disabled-user", ["viewer"]);
      const x = await loginOk(box, u.username, u.password);
      const r = await call(box, "PATCH", `/users/${u.id}`, {
        as: bearer(admin),
        body: { status: "disabled" },
      });
      expect(r.status).toBe(200);
      await waitFor(
        async () => (await call(box, "GET", "/me", { as: { cookie: x.cookie } })).status === 401,
        REVOKE_MS,
        "disabled cookie refused",
      );
      expectError(await login(box, u.username, u.password), 403, "account disabled");
    });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("expiry on the real clock (token TTL 30 s, session idle 60 s)", () => {
  let box: Box;
  beforeAll(async () => {
    box = await startIdentity({
      NEXUS_IDENTITY_ACCESS_TOKEN_TTL_SEC: "30",
      NEXUS_IDENTITY_SESSION_IDLE_SEC: "60",
    });
  });
  afterAll(async () => {
    await box?.stop();
  });

  it("an access token dies after its TTL (+30 s skew); an unused session after the idle time; a used one lives on", async () => {
    const admin = await setupAdmin(box, "admin");
    const issued = Date.now();
    const idle = await loginOk(box, admin.username, admin.password);
    // Its last use is no later than this (a use within 10 s of the last one does not move it).
    const idleSince = Date.now();
    const busy = await loginOk(box, admin.username, admin.password);
    const c = claimsOf(idle.token);
    expect(c.exp - c.iat).toBe(30);
    expect(idle.body.expiresIn).toBe(30);
    expect((await call(box, "GET", "/me", { as: { cookie: idle.cookie } })).status).toBe(200);

    let idleGone = 0;
    let tokenGone = 0;
    let lastBusy = 0;
    await waitFor(
      async () => {
        const elapsed = Date.now() - issued;
        // Keep one session in use (every 5 s, past the gateway's cache) so it never idles out.
        if (Date.now() - lastBusy > 5000) {
          lastBusy = Date.now();
          const r = await call(box, "GET", "/me", { as: { cookie: busy.cookie } });
          expect(r.status, `busy session at ${elapsed} ms`).toBe(200);
        }
        if (!tokenGone && (await call(box, "GET", "/me", { as: bearer(idle) })).status === 401)
          tokenGone = elapsed;
        // Probe the idle session only once it must be gone: a use before that would restart its idle time.
        if (!idleGone && Date.now() - idleSince > 61_000) {
          const r = await call(box, "GET", "/me", { as: { cookie: idle.cookie } });
          expect(r.status, "idle session after 61 s").toBe(401);
          idleGone = elapsed;
        }
        return tokenGone && idleGone;
      },
      100_000,
      "token and idle session to expire",
    );
    // exp = iat + 30 s; refused once now > exp + 30 s skew. Whole seconds: allow 1 s of rounding.
    expect(tokenGone).toBeGreaterThanOrEqual(58_000);
    expect((await call(box, "GET", "/me", { as: { cookie: busy.cookie } })).status).toBe(200);
    const listed = await call(box, "GET", "/me/sessions", { as: { cookie: busy.cookie } });
    const ids = listed.body.sessions.map((s: Body) => s.id);
    expect(ids).toContain(claimsOf(busy.token).sid);
    expect(ids).not.toContain(c.sid);
  }, 150_000);
});
