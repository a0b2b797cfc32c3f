/**
 * The gateway's authentication hook. The identity service plugs in its own; until then the box is guarded by
 * a bootstrap admin token generated on first start (data dir secrets/admin.token, mode 0600).
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { dirname } from "node:path";
import { bearerToken } from "../kit/credentials.js";

export interface Principal {
  id: string;
  username?: string;
  roles: string[];
  /** Effective permissions (roles expanded, API-key scope applied). */
  permissions: string[];
  /** Ids of the caller's teams. */
  teams?: string[];
  /** Session id, when the caller is a logged-in user. */
  sid?: string;
  /** For cookie sessions: whether the request carried the session's CSRF token. Never forwarded. */
  csrfOk?: boolean;
  /** How the caller proved who it is. */
  via: "bootstrap-token" | "session" | "token" | "api-key";
}

export interface AuthRequest {
  method: string;
  /** `/api/<service>/…` or a gateway path such as `/metrics`. */
  path: string;
  headers: IncomingHttpHeaders;
}

/**
 * Returns the caller, or null when the request carries no valid credentials (401). Throws
 * `AuthUnavailableError` when it cannot tell yet (503): a valid credential must never be refused for that.
 */
export interface AuthHook {
  (req: AuthRequest): Promise<Principal | null> | Principal | null;
  /** Whether credentials can be checked now (the gateway's `/ready`); absent means always. */
  ready?: () => Promise<boolean>;
}

/** The hook cannot check credentials now (identity unreachable, its keys not fetched yet): retry later. */
export class AuthUnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds = 2,
  ) {
    super(message);
    this.name = "AuthUnavailableError";
  }
}

/** Reads the bootstrap token, creating it on first use. */
export function bootstrapToken(file: string): string {
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString("base64url");
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** Accepts `Authorization: Bearer <bootstrap token>`; compares in constant time. */
export function bootstrapTokenAuth(token: string): AuthHook {
  const expected = Buffer.from(token);
  // One frozen object for every request: nothing downstream may change it, and its header is built once.
  const admin: Principal = Object.freeze({
    id: "bootstrap-admin",
    roles: Object.freeze(["admin"]) as string[],
    permissions: Object.freeze(["*"]) as string[],
    via: "bootstrap-token",
  });
  // The given token is written here, not into a new Buffer per request (synchronous: no request interleaves).
  const given = Buffer.alloc(expected.length);
  return (req) => {
    const token = bearerToken(req.headers.authorization);
    if (!token || Buffer.byteLength(token) !== expected.length) return null;
    given.write(token);
    if (!timingSafeEqual(given, expected)) return null;
    return admin;
  };
}
