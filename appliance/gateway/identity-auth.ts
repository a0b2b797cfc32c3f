/**
 * Authentication against the identity service, as the gateway's AuthHook.
 * - `Authorization: Bearer <JWT>`: verified locally (ES256) against identity's JWKS, cached; an unknown kid
 *   refreshes the JWKS (at most once a second), so key rotation needs no restart.
 * - `Authorization: Bearer nxk_…` or `x-api-key: nxk_…`: introspected, cached for `cacheMs`.
 * - `Cookie: nexus_session=…`: introspected, cached for `cacheMs`; `csrfOk` says whether `x-csrf-token`
 *   matched the session's token (the gateway refuses state-changing requests without it).
 * A revoked session or key stops working within `cacheMs`; a bearer access token within its lifetime.
 * Invariant: a credential is refused (null) only when identity's answer or its keys say so. While identity is
 * unreachable, or its keys were never fetched, the hook throws `AuthUnavailableError` (503, retry) instead;
 * concurrent callers share one JWKS fetch rather than verifying against a key set still being fetched.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { bearerToken, SESSION_COOKIE, TOKEN_AUDIENCE, tokenIssuer } from "../kit/credentials.js";
import { type Jwk, type VerifyResult, verifyJwt } from "../kit/jwt.js";
import type { Logger } from "../kit/logger.js";
import { type AuthHook, type AuthRequest, AuthUnavailableError, type Principal } from "./auth.js";

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
/** An unknown kid asks identity again at most this often (a flood of forged kids is not a flood of fetches). */
const JWKS_MIN_INTERVAL_MS = 1000;
const UNREACHABLE = "authentication unavailable: the identity service cannot be reached yet, retry";

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
  const verifiedTokens = new Map<string, { principal: Principal; exp: number }>();
  const jwks = jwksCache(opts, () => verifiedTokens.clear());

  /** identity's answer; null when it refused (4xx). Throws AuthUnavailableError when there is no answer. */
  async function call<T>(path: string, init: RequestInit = {}): Promise<T | null> {
    const port = opts.port();
    if (!port) throw new AuthUnavailableError(UNREACHABLE);
    let res: Response;
    try {
      res = await fetch(`http://127.0.0.1:${port}${path}`, {
        ...init,
        headers: { "content-type": "application/json", "x-nexus-internal": opts.internalToken },
        signal: AbortSignal.timeout(3000),
      });
    } catch (err) {
      opts.log.warn({ err: (err as Error).message, path }, "identity service unreachable");
      throw new AuthUnavailableError(UNREACHABLE);
    }
    if (res.status >= 500) {
      await res.body?.cancel();
      throw new AuthUnavailableError(UNREACHABLE);
    }
    if (!res.ok) {
      await res.body?.cancel();
      return null;
    }
    return (await res.json()) as T;
  }

  async function verifyBearer(token: string): Promise<Principal | null> {
    const expect = { iss: tokenIssuer(opts.site), aud: TOKEN_AUDIENCE };
    const keys = await jwks.current();
    // verifyJwt throws on some hostile tokens (a header of JSON `null`); that is a refusal, not a 500.
    const verify = (set: Map<string, Jwk>): VerifyResult => {
      try {
        return verifyJwt(token, set, expect);
      } catch {
        return { ok: false, reason: "malformed" };
      }
    };
    const hit = verifiedTokens.get(token);
    if (hit && hit.exp * 1000 > Date.now()) return hit.principal;
    let r = verify(keys);
    if (!r.ok && r.reason === "unknown kid") r = verify(await jwks.afterUnknownKid());
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
  return Object.assign(hook, { ready: jwks.ready });
}

/**
 * identity's JWKS, fetched once for all concurrent callers. `current()` throws AuthUnavailableError while no
 * key set was ever fetched; afterwards a failed refresh keeps the last one (retired keys drop out once identity
 * answers again). `onRetired` runs when a key identity no longer lists disappears.
 */
function jwksCache(opts: IdentityAuthOptions, onRetired: () => void) {
  let keys: Map<string, Jwk> | null = null;
  let checkedAt = 0;
  let lastOk = false;
  let inflight: Promise<void> | null = null;

  async function fetchOnce(): Promise<void> {
    const port = opts.port();
    try {
      if (!port) throw new Error("identity is not running");
      const res = await fetch(`http://127.0.0.1:${port}/jwks`, {
        headers: { "x-nexus-internal": opts.internalToken },
        signal: AbortSignal.timeout(3000),
      });
      if (!res.ok) throw new Error(`identity answered ${res.status}`);
      const doc = (await res.json()) as { keys: Jwk[] };
      const next = new Map(doc.keys.map((k) => [k.kid, k]));
      // A key identity no longer lists (retired past its tokens' lifetime) stops verifying at once.
      if (keys && [...keys.keys()].some((kid) => !next.has(kid))) onRetired();
      keys = next;
      lastOk = true;
    } catch (err) {
      if (port) opts.log.warn({ err: (err as Error).message }, "identity's keys could not be fetched");
      lastOk = false;
    } finally {
      checkedAt = Date.now();
    }
  }

  /** Starts a fetch, or joins the one in flight. */
  function refresh(): Promise<void> {
    inflight ??= fetchOnce().finally(() => {
      inflight = null;
    });
    return inflight;
  }

  return {
    /** The key set to verify with, fetched first when there is none yet or it is over a minute old. */
    async current(): Promise<Map<string, Jwk>> {
      if (!keys || Date.now() - checkedAt > JWKS_MAX_AGE_MS) await refresh();
      if (!keys) throw new AuthUnavailableError(UNREACHABLE);
      return keys;
    },
    /** The key set after asking identity about a kid it did not hold (rotation), unless it was just asked. */
    async afterUnknownKid(): Promise<Map<string, Jwk>> {
      if (inflight || Date.now() - checkedAt >= JWKS_MIN_INTERVAL_MS) await refresh();
      // Without an answer from identity the kid may be a new key: not a refusal.
      if (!lastOk || !keys) throw new AuthUnavailableError(UNREACHABLE);
      return keys;
    },
    /** True once tokens can be verified (fetching the keys if there are none yet). */
    async ready(): Promise<boolean> {
      if (!keys) await refresh();
      return keys !== null;
    },
  };
}
