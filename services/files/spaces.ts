/**
 * Spaces: every node lives in one. `user:<id>` is a person's own space (the caller's is also `me`), `team:<id>`
 * a team's, shared by its members (the gateway forwards the caller's team ids from identity). Holders of
 * `files:admin` reach every space. The gateway has already checked `files:read` / `files:write`.
 */
import { ApiError, type Caller, hasPermission } from "../../appliance/kit/index.js";

const SPACE = /^(user|team):([A-Za-z0-9_-]{1,64})$/;

export const isAdmin = (caller: Caller) => hasPermission(caller.permissions, "files:admin");

/** The space id a URL or body names (`me`, `user:<id>`, `team:<id>`); 400 when malformed. */
export function spaceId(caller: Caller, raw: string): string {
  if (raw === "me") return `user:${caller.id}`;
  if (!SPACE.test(raw)) throw new ApiError(400, "a space is 'me', 'user:<id>' or 'team:<id>'");
  return raw;
}

/** True when `caller` may use `space` at all. */
export function canUse(caller: Caller, space: string): boolean {
  if (isAdmin(caller)) return true;
  const m = SPACE.exec(space);
  if (!m) return false;
  return m[1] === "user" ? m[2] === caller.id : caller.teams.includes(m[2]!);
}

/** The space `raw` names, or 403 when the caller is not in it. */
export function requireSpace(caller: Caller, raw: string): string {
  const space = spaceId(caller, raw);
  if (!canUse(caller, space)) throw new ApiError(403, "you have no access to this space", { space });
  return space;
}

/** The spaces a caller works in: their own and their teams'. */
export function spacesOf(caller: Caller): { id: string; kind: "user" | "team"; name: string }[] {
  return [
    { id: `user:${caller.id}`, kind: "user" as const, name: caller.username ?? "my files" },
    ...caller.teams.map((t) => ({ id: `team:${t}`, kind: "team" as const, name: `team ${t}` })),
  ];
}
