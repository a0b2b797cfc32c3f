/**
 * Compact ES256 JSON Web Tokens with node:crypto. Verification is strict on purpose: the algorithm must be
 * exactly ES256 (no `none`, no HMAC confusion), the key is chosen by `kid` from a JWKS the caller trusts,
 * and `exp`/`nbf`/`iss`/`aud` are checked with a small clock skew.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";

export interface Jwk extends JsonWebKey {
  kid: string;
  alg: "ES256";
  use: "sig";
}

export interface TokenClaims {
  iss: string;
  aud: string;
  sub: string;
  iat: number;
  exp: number;
  nbf?: number;
  [claim: string]: unknown;
}

const SKEW_SECONDS = 30;
const b64 = (v: Buffer | string) => Buffer.from(v).toString("base64url");

/** A new P-256 key pair: the private key as PKCS#8 PEM, the public one as a JWK. */
export function generateSigningKey(kid: string): { privatePem: string; publicJwk: Jwk } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicJwk: { ...(publicKey.export({ format: "jwk" }) as JsonWebKey), kid, alg: "ES256", use: "sig" },
  };
}

/** Signs `claims` with the private key `kid`. */
export function signJwt(claims: TokenClaims, kid: string, privatePem: string): string {
  const head = b64(JSON.stringify({ alg: "ES256", typ: "JWT", kid }));
  const body = b64(JSON.stringify(claims));
  const sig = sign("sha256", Buffer.from(`${head}.${body}`), {
    key: createPrivateKey(privatePem),
    dsaEncoding: "ieee-p1363",
  });
  return `${head}.${body}.${b64(sig)}`;
}

const keyObjects = new WeakMap<Jwk, KeyObject>();

/** Parsing a JWK into a key costs more than the signature check itself: do it once per key. */
function publicKey(jwk: Jwk): KeyObject {
  let k = keyObjects.get(jwk);
  if (!k) {
    k = createPublicKey({ key: jwk, format: "jwk" });
    keyObjects.set(jwk, k);
  }
  return k;
}

export type VerifyResult = { ok: true; claims: TokenClaims } | { ok: false; reason: string; kid?: string };

/** Verifies a token against `keys`; `reason` says why it was refused (never shown to clients verbatim). */
export function verifyJwt(
  token: string,
  keys: ReadonlyMap<string, Jwk>,
  expect: { iss: string; aud: string; now?: number },
): VerifyResult {
  const parts = token.split(".");
  if (parts.length !== 3 || token.length > 8192) return { ok: false, reason: "malformed" };
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: unknown; kid?: unknown; typ?: unknown };
  let claims: TokenClaims;
  try {
    header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8"));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  if (typeof header !== "object" || header === null) return { ok: false, reason: "malformed" };
  if (header.alg !== "ES256") return { ok: false, reason: `algorithm ${String(header.alg)} refused` };
  if (typeof header.kid !== "string") return { ok: false, reason: "no kid" };
  const jwk = keys.get(header.kid);
  if (!jwk) return { ok: false, reason: "unknown kid", kid: header.kid };
  const sig = Buffer.from(s, "base64url");
  if (sig.length !== 64) return { ok: false, reason: "bad signature" };
  const good = verify(
    "sha256",
    Buffer.from(`${h}.${p}`),
    { key: publicKey(jwk), dsaEncoding: "ieee-p1363" },
    sig,
  );
  if (!good) return { ok: false, reason: "bad signature" };
  const now = expect.now ?? Math.floor(Date.now() / 1000);
  if (typeof claims !== "object" || claims === null) return { ok: false, reason: "malformed" };
  if (claims.iss !== expect.iss || claims.aud !== expect.aud)
    return { ok: false, reason: "wrong issuer or audience" };
  if (typeof claims.exp !== "number" || claims.exp + SKEW_SECONDS < now)
    return { ok: false, reason: "expired" };
  if (typeof claims.nbf === "number" && claims.nbf - SKEW_SECONDS > now)
    return { ok: false, reason: "not yet valid" };
  if (typeof claims.sub !== "string") return { ok: false, reason: "no subject" };
  return { ok: true, claims };
}
