/**
 * The identity service's crypto building blocks: TOTP (RFC 6238 vectors, replay, window), base32 (RFC 4648),
 * recovery codes, scrypt password hashing and policy, and the kit's ES256 JWTs against forged and broken tokens.
 */
import { createHmac, createPublicKey, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  generateSigningKey,
  type Jwk,
  signJwt,
  type TokenClaims,
  verifyJwt,
} from "../../appliance/kit/jwt.js";
import {
  DUMMY_HASH,
  hashPassword,
  passwordProblem,
  temporaryPassword,
  verifyPassword,
} from "../../services/identity/passwords.js";
import {
  base32Decode,
  base32Encode,
  currentStep,
  hashSecret,
  matchTotp,
  newRecoveryCodes,
  newTotpSecret,
  otpauthUri,
  totpAt,
} from "../../services/identity/totp.js";

describe("base32 (RFC 4648, unpadded)", () => {
  const VECTORS: [plain: string, encoded: string][] = [
    ["", ""],
    ["f", "MY"],
    ["fo", "MZXQ"],
    ["foo", "MZXW6"],
    ["foob", "MZXW6YQ"],
    ["fooba", "MZXW6YTB"],
    ["foobar", "MZXW6YTBOI"],
  ];

  it.each(VECTORS)("%j ↔ %j", (plain, encoded) => {
    expect(base32Encode(Buffer.from(plain))).toBe(encoded);
    expect(base32Decode(encoded).toString()).toBe(plain);
  });

  it("decodes lower case and trailing padding", () => {
    expect(base32Decode("mzxw6ytboi").toString()).toBe("foobar");
    expect(base32Decode("MZXW6YQ=").toString()).toBe("foob");
  });

  it("round-trips every length 0..64 and every byte value", () => {
    for (let n = 0; n <= 64; n++) {
      const buf = Buffer.from(Array.from({ length: n }, (_, i) => (i * 97 + n * 31) & 255));
      const enc = base32Encode(buf);
      expect(enc).toMatch(/^[A-Z2-7]*$/);
      expect(enc.length).toBe(Math.ceil((n * 8) / 5));
      expect(base32Decode(enc).equals(buf), `length ${n}`).toBe(true);
    }
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(base32Decode(base32Encode(all)).equals(all)).toBe(true);
  });

  it.each(["MZXW1", "MZ XW", "MZXW6!", "é"])("refuses %j", (bad) => {
    expect(() => base32Decode(bad)).toThrow("invalid base32");
  });
});

describe("TOTP (RFC 6238, SHA-1, 30 s, 6 digits)", () => {
  const SECRET = base32Encode(Buffer.from("12345678901234567890"));
  // RFC 6238 appendix B, SHA-1 column: the 8-digit codes' last 6 digits.
  const VECTORS: [unixSeconds: number, code: string][] = [
    [59, "287082"],
    [1111111109, "081804"],
    [1111111111, "050471"],
    [1234567890, "005924"],
    [2000000000, "279037"],
    [20000000000, "353130"],
  ];

  it("encodes the RFC secret as the well-known base32 string", () => {
    expect(SECRET).toBe("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  });

  it.each(VECTORS)("T=%i → %s", (t, code) => {
    expect(totpAt(SECRET, currentStep(t * 1000))).toBe(code);
    expect(matchTotp(SECRET, code, null, t * 1000)).toBe(Math.floor(t / 30));
  });

  it("steps are 30 s wide", () => {
    expect(currentStep(0)).toBe(0);
    expect(currentStep(29_999)).toBe(0);
    expect(currentStep(30_000)).toBe(1);
  });

  const NOW = 1111111111 * 1000;
  const step = currentStep(NOW);

  it("accepts the previous, current and next step, nothing further", () => {
    for (const d of [-1, 0, 1]) expect(matchTotp(SECRET, totpAt(SECRET, step + d), null, NOW)).toBe(step + d);
    for (const d of [-3, -2, 2, 3]) expect(matchTotp(SECRET, totpAt(SECRET, step + d), null, NOW)).toBeNull();
  });

  it("refuses a replayed code and any step at or before the last one used", () => {
    const code = totpAt(SECRET, step);
    const used = matchTotp(SECRET, code, null, NOW);
    expect(used).toBe(step);
    expect(matchTotp(SECRET, code, used, NOW)).toBeNull();
    expect(matchTotp(SECRET, totpAt(SECRET, step - 1), used, NOW)).toBeNull();
    expect(matchTotp(SECRET, totpAt(SECRET, step + 1), used, NOW)).toBe(step + 1);
    expect(matchTotp(SECRET, totpAt(SECRET, step + 1), step + 1, NOW)).toBeNull();
  });

  it.each(["", "12345", "1234567", "12345a", " 50471", "050471 ", "05O471", "０５０４７１", "-50471"])(
    "refuses malformed code %j",
    (code) => {
      expect(matchTotp(SECRET, code, null, NOW)).toBeNull();
    },
  );

  it("refuses a code made with another secret", () => {
    const other = newTotpSecret();
    expect(matchTotp(SECRET, totpAt(other, step), null, NOW)).toBeNull();
  });

  it("new secrets are 160-bit base32 and distinct; the otpauth URI carries secret, issuer and account", () => {
    const secrets = new Set(Array.from({ length: 50 }, () => newTotpSecret()));
    expect(secrets.size).toBe(50);
    for (const s of secrets) {
      expect(s).toMatch(/^[A-Z2-7]{32}$/);
      expect(base32Decode(s).length).toBe(20);
    }
    const uri = otpauthUri("ABCDEFGH", "a@b c");
    expect(uri).toBe(
      "otpauth://totp/Nexus%20Edge%3Aa%40b%20c?secret=ABCDEFGH&issuer=Nexus%20Edge&algorithm=SHA1&digits=6&period=30",
    );
  });
});

describe("recovery codes", () => {
  it("ten codes xxxx-xxxx-xxxx from the base32 alphabet, hashed with SHA-256", () => {
    const { codes, hashes } = newRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(hashes).toHaveLength(10);
    for (const [i, c] of codes.entries()) {
      expect(c).toMatch(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/);
      expect(hashes[i]).toBe(hashSecret(c));
      expect(hashes[i]).not.toContain(c);
      expect(hashes[i]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
  });

  it("are unique within a set and across 200 sets", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { codes } = newRecoveryCodes();
      expect(new Set(codes).size).toBe(10);
      for (const c of codes) seen.add(c);
    }
    expect(seen.size).toBe(2000);
  });

  it("hashSecret is deterministic and distinguishes near-identical inputs", () => {
    expect(hashSecret("abc")).toBe(hashSecret("abc"));
    expect(hashSecret("abc")).not.toBe(hashSecret("abd"));
    expect(hashSecret("abc")).not.toBe(hashSecret("abc "));
  });
});

describe("scrypt passwords", () => {
  it("hashes as scrypt$N$r$p$salt$hash with a fresh salt; verifies right, refuses wrong", async () => {
    const h1 = await hashPassword("correct horse battery");
    const h2 = await hashPassword("correct horse battery");
    expect(h1).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(h1).not.toBe(h2);
    expect(h1).not.toContain("correct");
    expect(await verifyPassword("correct horse battery", h1)).toBe(true);
    expect(await verifyPassword("correct horse battery", h2)).toBe(true);
    for (const wrong of ["correct horse batter", "Correct horse battery", "correct horse battery ", ""]) {
      expect(await verifyPassword(wrong, h1), JSON.stringify(wrong)).toBe(false);
    }
  });

  it("NFKC twins verify against each other; different letters do not", async () => {
    const h = await hashPassword("ﬁle-Ⅻ-ｐａｓｓ");
    expect(await verifyPassword("file-XII-pass", h)).toBe(true);
    const composed = await hashPassword("caf\u00e9 au lait");
    expect(await verifyPassword("cafe\u0301 au lait", composed)).toBe(true);
    expect(await verifyPassword("cafe au lait", composed)).toBe(false);
  });

  it("a null stored hash (unknown user) is always false, even for the dummy's own input", async () => {
    expect(await verifyPassword("anything", null)).toBe(false);
    expect(DUMMY_HASH).toMatch(/^scrypt\$/);
  });

  const good = `scrypt$32768$8$1$c2FsdHNhbHRzYWx0c2FsdA$${"A".repeat(43)}`;
  it.each([
    ["empty", ""],
    ["another scheme", "bcrypt$2b$10$abcdefghijklmnopqrstuv"],
    ["too few parts", "scrypt$32768$8$1$c2FsdA"],
    ["too many parts", `${good}$extra`],
    ["empty fields", "scrypt$$$$$"],
    ["N not a number", "scrypt$abc$8$1$c2FsdA$aGFzaA"],
    ["N not a power of two", "scrypt$3$8$1$c2FsdA$aGFzaA"],
    ["N over the memory cap", "scrypt$1073741824$8$1$c2FsdA$aGFzaA"],
    ["negative r", "scrypt$16384$-8$1$c2FsdA$aGFzaA"],
    ["hash of the wrong length", "scrypt$16384$8$1$c2FsdA$aGFzaA"],
    ["right shape, wrong hash", good],
  ])("malformed stored hash (%s) → false, never throws", async (_name, stored) => {
    await expect(verifyPassword("password", stored)).resolves.toBe(false);
  });

  const POLICY: [password: string, username: string, problem: string | null][] = [
    ["short", "alice", "at least 10 characters"],
    ["123456789", "alice", "at least 10 characters"],
    ["1234567890", "alice", null],
    ["x".repeat(257), "alice", "at most 256 characters"],
    ["my-alice-password", "alice", "must not contain the username"],
    ["my-ALICE-password", "Alice", "must not contain the username"],
    ["aaaaaaaaaaaaaaa", "bob", "one repeated character"],
    ["correct horse battery", "bob", null],
    ["ﬁle-Ⅻ-ｐａｓｓ!", "bob", null],
  ];
  it.each(POLICY)("passwordProblem(%j, %j) → %j", (pw, user, problem) => {
    const got = passwordProblem(pw, user, 10);
    if (problem === null) expect(got).toBeNull();
    else expect(got).toContain(problem);
  });

  it("temporary passwords: 20 url-safe characters, distinct, pass the policy, never contain the username", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const pw = temporaryPassword("ab");
      expect(pw).toMatch(/^[A-Za-z0-9_-]{20}$/);
      expect(passwordProblem(pw, "ab", 10)).toBeNull();
      seen.add(pw);
    }
    expect(seen.size).toBe(3000);
    expect(temporaryPassword()).toMatch(/^[A-Za-z0-9_-]{20}$/);
  });
});

describe("ES256 JWTs (appliance/kit/jwt.ts)", () => {
  const ISS = "nexus-edge:test";
  const AUD = "nexus-edge";
  const expect_ = { iss: ISS, aud: AUD };
  const { privatePem, publicJwk } = generateSigningKey("k1");
  const other = generateSigningKey("k1");
  const keys = new Map<string, Jwk>([["k1", publicJwk]]);
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (over: Partial<TokenClaims> = {}): TokenClaims => ({
    iss: ISS,
    aud: AUD,
    sub: "user-1",
    iat: now(),
    nbf: now(),
    exp: now() + 300,
    perms: ["system:read"],
    ...over,
  });
  const b64 = (v: unknown) =>
    Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
  const good = signJwt(claims(), "k1", privatePem);
  const [gh, gp, gs] = good.split(".") as [string, string, string];

  function refused(token: string, reason?: string | RegExp) {
    const r = verifyJwt(token, keys, expect_);
    expect(r.ok, `accepted: ${token.slice(0, 60)}`).toBe(false);
    if (reason !== undefined && !r.ok) expect(r.reason).toMatch(reason);
  }

  it("round-trips: header ES256 + kid, claims intact, signature 64 bytes", () => {
    expect(JSON.parse(Buffer.from(gh, "base64url").toString())).toEqual({
      alg: "ES256",
      typ: "JWT",
      kid: "k1",
    });
    expect(Buffer.from(gs, "base64url")).toHaveLength(64);
    const r = verifyJwt(good, keys, expect_);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.claims.sub).toBe("user-1");
      expect(r.claims.perms).toEqual(["system:read"]);
    }
    expect(publicJwk).toMatchObject({ kty: "EC", crv: "P-256", kid: "k1", alg: "ES256", use: "sig" });
    expect(publicJwk).not.toHaveProperty("d");
  });

  it("picks the key by kid among several", () => {
    const k2 = generateSigningKey("k2");
    const many = new Map<string, Jwk>([
      ["k1", publicJwk],
      ["k2", k2.publicJwk],
    ]);
    expect(verifyJwt(signJwt(claims(), "k2", k2.privatePem), many, expect_).ok).toBe(true);
    expect(verifyJwt(good, many, expect_).ok).toBe(true);
  });

  it("refuses alg none (with and without a signature)", () => {
    for (const alg of ["none", "None", "NONE"]) {
      const h = b64({ alg, typ: "JWT", kid: "k1" });
      refused(`${h}.${gp}.`, /algorithm/);
      refused(`${h}.${gp}.${gs}`, /algorithm/);
    }
  });

  it("refuses HS256 signed with the public key as the HMAC secret (key confusion)", () => {
    const h = b64({ alg: "HS256", typ: "JWT", kid: "k1" });
    const publicPem = createPublicKey({ key: publicJwk, format: "jwk" }).export({
      type: "spki",
      format: "pem",
    });
    // What a naive verifier would feed HMAC: the PEM, the JWK text.
    for (const secret of [publicPem.toString(), JSON.stringify(publicJwk)]) {
      const sig = createHmac("sha256", secret).update(`${h}.${gp}`).digest("base64url");
      refused(`${h}.${gp}.${sig}`, /algorithm HS256 refused/);
    }
    // The same HMAC under an ES256 header is just a bad signature.
    const es = b64({ alg: "ES256", typ: "JWT", kid: "k1" });
    const sig = createHmac("sha256", publicPem.toString()).update(`${es}.${gp}`).digest("base64url");
    refused(`${es}.${gp}.${sig}`, /bad signature/);
  });

  it.each(["RS256", "ES384", "es256", "EdDSA", "", null, 256, ["ES256"]])("refuses header alg %j", (alg) => {
    refused(`${b64({ alg, typ: "JWT", kid: "k1" })}.${gp}.${gs}`, /algorithm/);
  });

  it("refuses an unknown or missing kid, and a same-kid key it does not hold", () => {
    refused(signJwt(claims(), "k9", privatePem), "unknown kid");
    const r = verifyJwt(signJwt(claims(), "k9", privatePem), keys, expect_);
    expect(r).toMatchObject({ ok: false, kid: "k9" });
    refused(`${b64({ alg: "ES256", typ: "JWT" })}.${gp}.${gs}`, "no kid");
    refused(`${b64({ alg: "ES256", typ: "JWT", kid: 1 })}.${gp}.${gs}`, "no kid");
    refused(`${b64({ alg: "ES256", typ: "JWT", kid: "__proto__" })}.${gp}.${gs}`, "unknown kid");
    refused(signJwt(claims(), "k1", other.privatePem), "bad signature");
  });

  it("refuses a tampered payload (privilege, subject, expiry)", () => {
    const payloads = [
      { ...claims(), perms: ["*"] },
      { ...claims(), sub: "admin" },
      { ...claims(), exp: now() + 10 * 365 * 86400 },
    ];
    for (const p of payloads) refused(`${gh}.${b64(p)}.${gs}`, "bad signature");
    // One character of the original payload changed.
    const flipped = gp.slice(0, 10) + (gp[10] === "A" ? "B" : "A") + gp.slice(11);
    refused(`${gh}.${flipped}.${gs}`);
    // Header swapped for an equivalent one with other bytes.
    refused(`${b64({ kid: "k1", alg: "ES256", typ: "JWT" })}.${gp}.${gs}`, "bad signature");
  });

  it("refuses a tampered, truncated, extended or empty signature", () => {
    const sig = Buffer.from(gs, "base64url");
    for (const i of [0, 17, 31, 32, 63]) {
      const t = Buffer.from(sig);
      t[i] = (t[i] ?? 0) ^ 1;
      refused(`${gh}.${gp}.${t.toString("base64url")}`, "bad signature");
    }
    refused(`${gh}.${gp}.${sig.subarray(0, 63).toString("base64url")}`, "bad signature");
    refused(`${gh}.${gp}.${Buffer.concat([sig, Buffer.from([0])]).toString("base64url")}`, "bad signature");
    refused(`${gh}.${gp}.`, "bad signature");
    refused(`${gh}.${gp}.${Buffer.alloc(64).toString("base64url")}`, "bad signature");
    // DER-encoded signature (what a library with the default encoding would produce).
    refused(`${gh}.${gp}.${Buffer.alloc(72, 1).toString("base64url")}`, "bad signature");
  });

  it("refuses a wrong issuer or audience", () => {
    refused(signJwt(claims({ iss: "nexus-edge:other-site" }), "k1", privatePem), /issuer or audience/);
    refused(signJwt(claims({ aud: "someone-else" }), "k1", privatePem), /issuer or audience/);
    const noIss = claims() as Partial<TokenClaims>;
    delete noIss.iss;
    refused(signJwt(noIss as TokenClaims, "k1", privatePem), /issuer or audience/);
    refused(signJwt(claims({ aud: [AUD] as unknown as string }), "k1", privatePem), /issuer or audience/);
  });

  it("expiry: refused beyond the 30 s skew, accepted within it", () => {
    const at = (exp: number) =>
      verifyJwt(signJwt(claims({ iat: 999_000, nbf: 999_000, exp }), "k1", privatePem), keys, {
        ...expect_,
        now: 1_000_000,
      });
    expect(at(1_000_000 - 29).ok).toBe(true);
    expect(at(1_000_000 - 30).ok).toBe(true);
    expect(at(1_000_000 - 31)).toMatchObject({ ok: false, reason: "expired" });
    expect(at(1_000_000 - 86_400)).toMatchObject({ ok: false, reason: "expired" });
    refused(signJwt(claims({ exp: now() - 120 }), "k1", privatePem), "expired");
    refused(signJwt(claims({ exp: String(now() + 300) as unknown as number }), "k1", privatePem), "expired");
    const noExp = claims() as Partial<TokenClaims>;
    delete noExp.exp;
    refused(signJwt(noExp as TokenClaims, "k1", privatePem), "expired");
  });

  it("not-before: refused beyond the 30 s skew in the future, accepted within it", () => {
    const at = (nbf: number) =>
      verifyJwt(signJwt(claims({ nbf, exp: 2_000_000 }), "k1", privatePem), keys, {
        ...expect_,
        now: 1_000_000,
      });
    expect(at(1_000_000 + 29).ok).toBe(true);
    expect(at(1_000_000 + 31)).toMatchObject({ ok: false, reason: "not yet valid" });
    refused(signJwt(claims({ nbf: now() + 3600 }), "k1", privatePem), "not yet valid");
  });

  it("refuses a token without a string subject", () => {
    refused(signJwt(claims({ sub: 42 as unknown as string }), "k1", privatePem), "no subject");
    const noSub = claims() as Partial<TokenClaims>;
    delete noSub.sub;
    refused(signJwt(noSub as TokenClaims, "k1", privatePem), "no subject");
  });

  const GARBAGE: [name: string, token: string][] = [
    ["empty", ""],
    ["one part", "abc"],
    ["two parts", `${gh}.${gp}`],
    ["four parts", `${good}.${gs}`],
    ["3-part garbage", "a.b.c"],
    ["3 empty parts", ".."],
    ["dots only", "....."],
    ["header not base64 JSON", `!!!.${gp}.${gs}`],
    ["header base64 of non-JSON", `${b64("{not json")}.${gp}.${gs}`],
    ["payload base64 of non-JSON", `${gh}.${b64("{not json")}.${gs}`],
    ["header a JSON string", `${b64("ES256")}.${gp}.${gs}`],
    ["header a JSON number", `${b64(1)}.${gp}.${gs}`],
    ["header a JSON array", `${b64([])}.${gp}.${gs}`],
    [
      "standard base64 with padding",
      `${Buffer.from(JSON.stringify({ alg: "ES256", kid: "k1" })).toString("base64")}==.${gp}.${gs}`,
    ],
    ["spaces", `${gh} .${gp}.${gs}`],
    ["over-long (8193 chars)", `${gh}.${gp}${"A".repeat(8193 - good.length)}.${gs}`],
    ["over-long (1 MB)", `${gh}.${"A".repeat(1 << 20)}.${gs}`],
  ];
  it.each(GARBAGE)("refuses malformed token: %s", (_name, token) => {
    refused(token);
  });

  it("refuses a validly signed payload that is not a JSON object", () => {
    for (const payload of ["null", "42", '"str"', "[]", "true"]) {
      const body = b64(payload);
      const sig = sign("sha256", Buffer.from(`${gh}.${body}`), {
        key: privatePem,
        dsaEncoding: "ieee-p1363",
      });
      refused(`${gh}.${body}.${sig.toString("base64url")}`);
    }
  });

  it("returns { ok: false } (does not throw) for a header of JSON null", () => {
    expect(verifyJwt(`${b64(null)}.${gp}.${gs}`, keys, expect_)).toEqual({ ok: false, reason: "malformed" });
  });
});
