/**
 * Authentication against the identity service, as the gateway's AuthHook.
 * - `Authorization: Bearer <JWT>`: verified locally (ES256) against identity's JWKS, cached; an unknown kid
 *   refreshes the JWKS (at most once a second), so key rotation needs no restart.
 * - `Authorization: Bearer nxk_…` or `x-api-key: nxk_…`: introspected, cached for `cacheMs`.
 * - `Cookie: nexus_session=…`: introspected, cached for `cacheMs`; `csrfOk` says whether `x-csrf-token`
 *   matched the session's token (the gateway refuses state-changing requests without it).
 * A revoked session or key stops working within `cacheMs`; a bearer access token within its lifetime.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { bearerToken, SESSION_COOKIE, TOKEN_AUDIENCE, tokenIssuer } from "../kit/credentials.js";
import { type Jwk, type VerifyResult, verifyJwt } from "../kit/jwt.js";
import type { Logger } from "../kit/logger.js";
import type { AuthHook, AuthRequest, Principal } from "./auth.js";

export interface IdentityAuthOptions {
  /** The identity service's loopback port, when it runs. */
  port: () => number | undefined;
  internalToken: string;
  site: string;
  log: Logger;
  cacheMs?: number;
}

interface Introspected extends Principal {
  csrf?: string;
}

const MAX_CACHE = 10_000;
/** The JWKS is fetched again at least this often, so retired keys drop out without a restart. */
const JWKS_MAX_AGE_MS = 60_000;

function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function identityAuth(opts: IdentityAuthOptions): AuthHook {
  const cacheMs = opts.cacheMs ?? 5000;
  const cache = new Map<string, { principal: Introspected; until: number }>();
  let keys = new Map<string, Jwk>();
  const verifiedTokens = new Map<string, { principal: Principal; exp: number }>();
  let jwksFetchedAt = 0;

  async function call<T>(path: string, init: RequestInit = {}): Promise<T | null> {
    const port = opts.port();
    if (!port) return null;
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        ...init,
        headers: { "content-type": "application/json", "x-nexus-internal": opts.internalToken },
        signal: AbortSignal.timeout(3000),
      });
      if (!res.ok) {
        await res.body?.cancel();
        return null;
      }
      return (await res.json()) as T;
    } catch (err) {
      opts.log.warn({ err: (err as Error).message, path }, "identity service unreachable");
      return null;
    }
  }

  async function refreshJwks(): Promise<void> {
    if (Date.now() - jwksFetchedAt < 1000) return;
    jwksFetchedAt = Date.now();
    const doc = await call<{ keys: Jwk[] }>("/jwks");
    if (!doc) return;
    const next = new Map(doc.keys.map((k) => [k.kid, k]));
    // A key identity no longer lists (retired past its tokens' lifetime) stops verifying at once.
    if ([...keys.keys()].some((kid) => !next.has(kid))) verifiedTokens.clear();
    keys = next;
  }

  async function verifyBearer(token: string): Promise<Principal | null> {
    const expect = { iss: tokenIssuer(opts.site), aud: TOKEN_AUDIENCE };
    // verifyJwt throws on some hostile tokens (a header of JSON `null`); that is a refusal, not a 500.
    const verify = (): VerifyResult => {
      try {
        return verifyJwt(token, keys, expect);
      } catch {
        return { ok: false, reason: "malformed" };
      }
    };
    if (Date.now() - jwksFetchedAt > JWKS_MAX_AGE_MS) await refreshJwks();
    const hit = verifiedTokens.get(token);
    if (hit && hit.exp * 1000 > Date.now()) return hit.principal;
    let r = verify();
    if (!r.ok && r.reason === "unknown kid") {
      await refreshJwks();
      r = verify();
    }
    if (!r.ok) return null;
    const c = r.claims;
    const principal: Principal = {
      id: c.sub,
      username: typeof c.name === "string" ? c.name : undefined,
      roles: Array.isArray(c.roles) ? (c.roles as string[]) : [],
      permissions: Array.isArray(c.perms) ? (c.perms as string[]) : [],
      teams: Array.isArray(c.teams) ? (c.teams as string[]) : [],
      sid: typeof c.sid === "string" ? c.sid : undefined,
      via: "token",
    };
    // A verified token stays valid until its exp (checked above on every hit): skip the signature check.
    if (verifiedTokens.size >= MAX_CACHE) verifiedTokens.delete(verifiedTokens.keys().next().value!);
    verifiedTokens.set(token, { principal, exp: c.exp });
    return principal;
  }

  async function introspect(kind: "session" | "api-key", secret: string): Promise<Introspected | null> {
    if (secret.length > 512) return null;
    const key = createHash("sha256").update(`${kind}\0${secret}`).digest("base64url");
    const hit = cache.get(key);
    if (hit && hit.until > Date.now()) return hit.principal;
    const r = await call<{ principal: Introspected }>("/internal/introspect", {
      method: "POST",
      body: JSON.stringify({ kind, secret }),
    });
    if (!r) {
      cache.delete(key);
      return null;
    }
    if (cache.size >= MAX_CACHE) cache.delete(cache.keys().next().value!);
    cache.set(key, { principal: r.principal, until: Date.now() + cacheMs });
    return r.principal;
  }

  const hook = async (req: AuthRequest): Promise<Principal | null> => {
    const auth = req.headers.authorization;
    const bearer = bearerToken(auth);
    const apiKey = bearer?.startsWith("nxk_") ? bearer : (req.headers["x-api-key"] as string | undefined);
    if (apiKey) return introspect("api-key", apiKey);
    if (bearer) return verifyBearer(bearer);
    const session = cookie(req.headers.cookie, SESSION_COOKIE);
    if (!session) return null;
    const p = await introspect("session", session);
    if (!p) return null;
    const { csrf, ...principal } = p;
    const sent = req.headers["x-csrf-token"];
    return { ...principal, csrfOk: typeof sent === "string" && !!csrf && same(sent, csrf) };
  };
  return hook;
}
