/**
 * Signing keys for access tokens. The newest unretired key signs; rotation adds a new key and retires the old
 * one, which stays in the JWKS until every token it signed has expired, so nobody is logged out.
 */
import { randomBytes } from "node:crypto";
import { TOKEN_AUDIENCE, tokenIssuer } from "../../appliance/kit/credentials.js";
import type { ServiceContext } from "../../appliance/kit/index.js";
import { generateSigningKey, type Jwk, signJwt, type TokenClaims } from "../../appliance/kit/jwt.js";
import type { IdentityConfig } from "./config.js";

type Ctx = ServiceContext<IdentityConfig>;

export { TOKEN_AUDIENCE, tokenIssuer } from "../../appliance/kit/credentials.js";

interface KeyRow {
  kid: string;
  private_pem: string;
  public_jwk: string;
  created_at: number;
  retired_at: number | null;
}

/** Adds a key and retires the current one. Returns the new kid. */
export function rotateSigningKey(ctx: Ctx): string {
  const kid = randomBytes(8).toString("hex");
  const { privatePem, publicJwk } = generateSigningKey(kid);
  ctx.tx(() => {
    ctx.db.prepare("UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL").run(Date.now());
    ctx.db
      .prepare("INSERT INTO signing_keys (kid, private_pem, public_jwk, created_at) VALUES (?, ?, ?, ?)")
      .run(kid, privatePem, JSON.stringify(publicJwk), Date.now());
  });
  return kid;
}

/** Makes sure a signing key exists (first start). */
export function ensureSigningKey(ctx: Ctx): void {
  currentKey(ctx);
}

function currentKey(ctx: Ctx): KeyRow {
  const k = ctx.db
    .prepare("SELECT * FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1")
    .get() as KeyRow | undefined;
  if (k) return k;
  rotateSigningKey(ctx);
  return currentKey(ctx);
}

/** Public keys still able to verify live tokens; retired ones drop out after the token lifetime. */
export function jwks(ctx: Ctx): { keys: Jwk[] } {
  const cutoff = Date.now() - (ctx.config.accessTokenTtlSec + 60) * 1000;
  const rows = ctx.db
    .prepare(
      "SELECT public_jwk FROM signing_keys WHERE retired_at IS NULL OR retired_at > ? ORDER BY created_at DESC",
    )
    .all(cutoff) as { public_jwk: string }[];
  return { keys: rows.map((r) => JSON.parse(r.public_jwk)) };
}

export function listSigningKeys(ctx: Ctx) {
  return (
    ctx.db
      .prepare("SELECT kid, created_at, retired_at FROM signing_keys ORDER BY created_at DESC")
      .all() as KeyRow[]
  ).map((k) => ({
    kid: k.kid,
    createdAt: new Date(k.created_at).toISOString(),
    retiredAt: k.retired_at ? new Date(k.retired_at).toISOString() : null,
  }));
}

/** A short-lived access token for a session. */
export function issueAccessToken(
  ctx: Ctx,
  p: {
    userId: string;
    username: string;
    sid: string;
    roles: string[];
    permissions: string[];
    teams: string[];
  },
): { token: string; expiresIn: number } {
  const key = currentKey(ctx);
  const now = Math.floor(Date.now() / 1000);
  const claims: TokenClaims = {
    iss: tokenIssuer(ctx.site),
    aud: TOKEN_AUDIENCE,
    sub: p.userId,
    iat: now,
    nbf: now,
    exp: now + ctx.config.accessTokenTtlSec,
    name: p.username,
    sid: p.sid,
    roles: p.roles,
    perms: p.permissions,
    teams: p.teams,
  };
  return { token: signJwt(claims, key.kid, key.private_pem), expiresIn: ctx.config.accessTokenTtlSec };
}
