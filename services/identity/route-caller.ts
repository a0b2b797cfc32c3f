/** Who is calling a route, read once from the request for the checks and audit entries of the plain functions. */
import { ApiError, type Caller, clientIp, requireCaller } from "../../appliance/kit/index.js";

type Req = Parameters<typeof clientIp>[0];

/** A signed-in caller, with the name and address their audit entries carry. */
export interface Acting {
  caller: Caller;
  actor: string;
  ip: string;
}

/** The caller of an admin route; 401 when there is none. */
export function who(c: Req): Acting {
  const caller = requireCaller(c);
  return { caller, actor: caller.username ?? caller.id, ip: clientIp(c) };
}

/**
 * The caller, when signed in as themselves. An API key acts within its scope only: `/me/*` is open to any
 * authenticated caller, so without this a key scoped to `system:read` could enrol MFA on its owner's account,
 * change the password, end every session, or read where its owner is signed in and which keys they hold.
 * Every `/me/*` route uses it; `GET /me` (who am I) does not.
 */
export function requireLogin(c: Req, what: string): Caller {
  const caller = requireCaller(c);
  if (caller.via === "api-key") throw new ApiError(403, `API keys cannot ${what}`);
  return caller;
}

/** Appends each cookie as its own `set-cookie` header. */
export function setCookies(c: Req, cookies: Iterable<string>): void {
  for (const cookie of cookies) c.header("set-cookie", cookie, { append: true });
}
