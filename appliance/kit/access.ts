/**
 * Route permissions. Every service declares, per route, the permission a caller needs; the gateway enforces
 * them before a request reaches the service (401 without credentials, 403 without the permission).
 * A route no rule matches needs `*` (admin): forgetting a rule fails closed.
 *
 * Permissions are `<service>:<thing>[:<verb>]`; a granted permission may use `*` for one segment, or be `*`
 * alone (everything).
 */

/**
 * `public`: anyone; `authenticated`: any signed-in caller; `{ permission }`: a caller holding it; `service`: the
 * gateway does not authenticate the caller, sends the request on with its `Authorization` header and no
 * principal, and the service authenticates it itself (OpenRosa clients with per-device app-user credentials).
 */
export type AccessLevel = "public" | "authenticated" | "service" | { permission: string };

export interface AccessRule {
  /** HTTP method, or `*` for any. */
  method: string;
  /** Path inside the service: `/users/:id`, `/files/*` (rest of path). */
  path: string;
  access: AccessLevel;
  /**
   * Streaming routes (uploads): the largest body the route takes, above the gateway's default limit. Such a
   * request also gets an idle timeout instead of the whole-request timeout, so a multi-GB upload can take
   * as long as it keeps sending. The service enforces its own finer limits (quota, declared size).
   */
  maxBodyBytes?: number;
}

/** Shorthand for a rule. */
export function rule(
  method: string,
  path: string,
  access: AccessLevel | string,
  opts: { maxBodyBytes?: number } = {},
): AccessRule {
  return {
    method,
    path,
    access:
      typeof access === "string" && access.includes(":") ? { permission: access } : (access as AccessLevel),
    ...(opts.maxBodyBytes ? { maxBodyBytes: opts.maxBodyBytes } : {}),
  };
}

/** Whether `path` fits a route pattern: `:name` takes one non-empty segment, a trailing `*` the rest. */
export function pathMatches(pattern: string, path: string): boolean {
  return segmentsMatch(pattern.split("/"), path.split("/"));
}

function segmentsMatch(p: readonly string[], s: readonly string[]): boolean {
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "*") return true;
    if (i >= s.length) return false;
    if (p[i]!.startsWith(":")) {
      if (!s[i]) return false;
      continue;
    }
    if (p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

const FAIL_CLOSED: AccessRule = { method: "*", path: "*", access: { permission: "*" } };

/** A rule with its method upper-cased and its pattern split. */
interface CompiledRule {
  rule: AccessRule;
  method: string;
  segments: readonly string[];
}

/** A rule list, compiled, with the rules recently matched by `METHOD path`. */
interface Compiled {
  rules: readonly CompiledRule[];
  matched: Map<string, AccessRule>;
}

/** Paths remembered per rule list; past this the memory starts over (ids in paths make it unbounded). */
const MATCHED_MAX = 512;
/** Longer paths are matched every time, so the memory stays small (512 × 256 characters at most). */
const MATCHED_PATH_MAX = 256;

/**
 * Rule lists are fixed once a service is defined; the gateway matches them on every request, so each list is
 * compiled on first use and frozen then (a later change in place throws instead of being matched stale).
 */
const compiled = new WeakMap<readonly AccessRule[], Compiled>();

function compile(rules: readonly AccessRule[]): Compiled {
  let c = compiled.get(rules);
  if (!c) {
    c = {
      rules: rules.map((rule) => ({
        rule,
        method: rule.method.toUpperCase(),
        segments: rule.path.split("/"),
      })),
      matched: new Map(),
    };
    Object.freeze(rules);
    compiled.set(rules, c);
  }
  return c;
}

/**
 * The first rule matching `method path`; the fail-closed default (needs `*`) when none does, or when there is no
 * rule list at all (a service the caller does not know).
 */
export function ruleFor(rules: readonly AccessRule[] | undefined, method: string, path: string): AccessRule {
  if (!rules) return FAIL_CLOSED;
  const upper = method.toUpperCase();
  const m = upper === "HEAD" ? "GET" : upper;
  const c = compile(rules);
  const key = `${m} ${path}`;
  let found = c.matched.get(key);
  if (found) return found;
  found = FAIL_CLOSED;
  const s = path.split("/");
  for (const r of c.rules) {
    if ((r.method === "*" || r.method === m) && segmentsMatch(r.segments, s)) {
      found = r.rule;
      break;
    }
  }
  if (path.length <= MATCHED_PATH_MAX) {
    if (c.matched.size >= MATCHED_MAX) c.matched.clear();
    c.matched.set(key, found);
  }
  return found;
}

/** The access level of the rule matching `method path`. */
export function accessFor(rules: readonly AccessRule[], method: string, path: string): AccessLevel {
  return ruleFor(rules, method, path).access;
}

/** True when one of `granted` covers `needed`. */
export function hasPermission(granted: readonly string[], needed: string): boolean {
  const n = needed.split(":");
  return granted.some((g) => {
    if (g === "*") return true;
    const parts = g.split(":");
    if (parts.length !== n.length) return false;
    return parts.every((p, i) => p === "*" || p === n[i]);
  });
}
