/**
 * API keys for machines: `nxk_<id>_<secret>`, shown once, stored as SHA-256, scoped to permissions the owner
 * holds (checked at creation and again, by intersection, at every use), expiring and revocable.
 */
import { randomBytes } from "node:crypto";
import { ApiError, type ServiceContext } from "../../appliance/kit/index.js";
import type { IdentityConfig } from "./config.js";
import { assertCanGrant } from "./roles.js";
import { hashSecret } from "./totp.js";
import { permissionsOf } from "./users.js";

type Ctx = ServiceContext<IdentityConfig>;

export interface ApiKey {
  id: string;
  name: string;
  userId: string;
  permissions: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

interface KeyRow {
  id: string;
  name: string;
  user_id: string;
  secret_hash: string;
  permissions: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

const iso = (n: number | null) => (n === null ? null : new Date(n).toISOString());
const toKey = (r: KeyRow): ApiKey => ({
  id: r.id,
  name: r.name,
  userId: r.user_id,
  permissions: JSON.parse(r.permissions),
  createdAt: iso(r.created_at)!,
  expiresAt: iso(r.expires_at),
  revokedAt: iso(r.revoked_at),
  lastUsedAt: iso(r.last_used_at),
});

export const API_KEY_FORMAT = /^nxk_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export function createApiKey(
  ctx: Ctx,
  owner: string,
  k: { name: string; permissions: string[]; expiresInDays?: number },
): { key: ApiKey; secret: string } {
  assertCanGrant(permissionsOf(ctx, owner), k.permissions);
  const id = randomBytes(9).toString("base64url").replace(/[-_]/g, "x").slice(0, 12);
  const secret = `nxk_${id}_${randomBytes(32).toString("base64url")}`;
  const now = Date.now();
  const expires = k.expiresInDays ? now + k.expiresInDays * 86_400_000 : null;
  ctx.db
    .prepare(
      "INSERT INTO api_keys (id, name, user_id, secret_hash, permissions, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .run(id, k.name, owner, hashSecret(secret), JSON.stringify(k.permissions), now, expires);
  return { key: toKey(ctx.db.prepare("SELECT * FROM api_keys WHERE id = ?").get(id) as KeyRow), secret };
}

/** The live key for a presented secret (recording its use), or null. */
export function apiKeyBySecret(ctx: Ctx, secret: string): (ApiKey & { userId: string }) | null {
  const m = API_KEY_FORMAT.exec(secret);
  if (!m) return null;
  const r = ctx.db
    .prepare("SELECT * FROM api_keys WHERE id = ? AND secret_hash = ?")
    .get(m[1], hashSecret(secret)) as KeyRow | undefined;
  const now = Date.now();
  if (!r || r.revoked_at !== null || (r.expires_at !== null && r.expires_at < now)) return null;
  if (!r.last_used_at || now - r.last_used_at > 60_000) {
    ctx.db.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?").run(now, r.id);
  }
  return toKey(r);
}

export function listApiKeys(ctx: Ctx, owner?: string): ApiKey[] {
  const rows = owner
    ? ctx.db.prepare("SELECT * FROM api_keys WHERE user_id = ? ORDER BY created_at DESC").all(owner)
    : ctx.db.prepare("SELECT * FROM api_keys ORDER BY created_at DESC").all();
  return (rows as KeyRow[]).map(toKey);
}

/** Revokes a key; with `owner`, only one of theirs (404 otherwise). */
export function revokeApiKey(ctx: Ctx, id: string, owner?: string): void {
  const { changes } = owner
    ? ctx.db
        .prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL")
        .run(Date.now(), id, owner)
    : ctx.db
        .prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
        .run(Date.now(), id);
  if (!changes) throw new ApiError(404, "no such key");
}
