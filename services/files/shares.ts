/**
 * Share links: `<id>.<hmac>` tokens signed with a per-box key, expiring, optionally password-protected
 * (scrypt), revocable. A token whose signature does not verify is answered like an unknown one (404). Wrong
 * passwords are throttled per share.
 */
import { createHmac, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import { ApiError, type Caller, type ServiceContext } from "../../appliance/kit/index.js";
import { type NodeRow, nodeRow } from "./nodes.js";
import { isAdmin } from "./spaces.js";

type Ctx = ServiceContext<unknown>;

export interface ShareRow {
  id: string;
  node_id: string;
  created_by: string;
  created_at: string;
  expires_at: string;
  password_hash: string | null;
  revoked_at: string | null;
  downloads: number;
  /** Wrong passwords in the current window, and when the window began (ms since the epoch). */
  password_failures: number;
  password_failures_since: number | null;
}

const TOKEN = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
const MAX_FAILURES = 10;
const FAILURE_WINDOW_MS = 15 * 60_000;

function shareKey(ctx: Ctx): Buffer {
  const row = ctx.db.prepare("SELECT value FROM secrets WHERE name = 'share-key'").get() as
    | { value: string }
    | undefined;
  if (row) return Buffer.from(row.value, "base64url");
  const key = randomBytes(32).toString("base64url");
  ctx.db.prepare("INSERT OR IGNORE INTO secrets (name, value) VALUES ('share-key', ?)").run(key);
  return shareKey(ctx);
}

const sign = (ctx: Ctx, id: string) => createHmac("sha256", shareKey(ctx)).update(id).digest("base64url");

export const tokenOf = (ctx: Ctx, id: string) => `${id}.${sign(ctx, id)}`;

export const toShare = (ctx: Ctx, s: ShareRow) => ({
  id: s.id,
  nodeId: s.node_id,
  url: `/api/files/s/${tokenOf(ctx, s.id)}`,
  createdBy: s.created_by,
  createdAt: s.created_at,
  expiresAt: s.expires_at,
  hasPassword: s.password_hash !== null,
  revokedAt: s.revoked_at,
  downloads: s.downloads,
});

// Async: scrypt runs on libuv's thread pool. The sync form blocked the service's event loop ~100 ms per guess
// (more on a busy box), long enough for health probes to fail and the supervisor to kill the service.
const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  return `${salt.toString("base64url")}.${(await scryptAsync(password, salt, 32)).toString("base64url")}`;
}

async function passwordMatches(stored: string, given: string): Promise<boolean> {
  const [salt = "", hash = ""] = stored.split(".");
  const actual = await scryptAsync(given, Buffer.from(salt, "base64url"), 32);
  const expected = Buffer.from(hash, "base64url");
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}

export async function createShare(
  ctx: Ctx,
  node: NodeRow,
  by: string,
  input: { expiresInSeconds: number; password?: string },
): Promise<ShareRow> {
  if (node.kind !== "file") throw new ApiError(400, "only files can be shared by link");
  const passwordHash = input.password ? await hashPassword(input.password) : null;
  const id = randomBytes(16).toString("base64url");
  const now = Date.now();
  ctx.db
    .prepare(
      `INSERT INTO shares (id, node_id, created_by, created_at, expires_at, password_hash)
       VALUES (?, ?, ?, ?, ?, ?)`,
    )
    .run(
      id,
      node.id,
      by,
      new Date(now).toISOString(),
      new Date(now + input.expiresInSeconds * 1000).toISOString(),
      passwordHash,
    );
  return shareRow(ctx, id)!;
}

export function shareRow(ctx: Ctx, id: string): ShareRow | undefined {
  return ctx.db.prepare("SELECT * FROM shares WHERE id = ?").get(id) as ShareRow | undefined;
}

/** Live shares (not revoked, not expired) the caller made (admins: all), newest first. */
export function listShares(ctx: Ctx, caller: Caller): ShareRow[] {
  const sql = `SELECT * FROM shares WHERE revoked_at IS NULL AND expires_at > ? AND (? OR created_by = ?)
     ORDER BY created_at DESC LIMIT 1000`;
  return ctx.db.prepare(sql).all(new Date().toISOString(), isAdmin(caller) ? 1 : 0, caller.id) as ShareRow[];
}

export function revokeShare(ctx: Ctx, caller: Caller, id: string): ShareRow {
  const s = shareRow(ctx, id);
  if (!s || (s.created_by !== caller.id && !isAdmin(caller))) throw new ApiError(404, "no such share");
  ctx.db
    .prepare("UPDATE shares SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
    .run(new Date().toISOString(), id);
  return shareRow(ctx, id)!;
}

/** The live file behind a token; 404 unknown/tampered, 410 expired/revoked, 401/403 password. */
export async function openShare(
  ctx: Ctx,
  token: string,
  password: string | undefined,
): Promise<{ share: ShareRow; node: NodeRow }> {
  const m = TOKEN.exec(token);
  if (!m) throw new ApiError(404, "no such share");
  const expected = Buffer.from(sign(ctx, m[1]!));
  const given = Buffer.from(m[2]!);
  if (expected.length !== given.length || !timingSafeEqual(expected, given))
    throw new ApiError(404, "no such share");
  const share = shareRow(ctx, m[1]!);
  if (!share) throw new ApiError(404, "no such share");
  if (share.revoked_at) throw new ApiError(410, "this share link was revoked");
  if (Date.parse(share.expires_at) <= Date.now()) throw new ApiError(410, "this share link has expired");
  const node = nodeRow(ctx, share.node_id);
  if (!node || node.deleted_at) throw new ApiError(410, "the shared file was deleted");
  if (share.password_hash) await checkPassword(ctx, share.id, password);
  return { share, node };
}

/** Counts one download of a share: called only when its content is sent (200/206), not for HEAD or 304. */
export function countDownload(ctx: Ctx, share: ShareRow): void {
  ctx.db.prepare("UPDATE shares SET downloads = downloads + 1 WHERE id = ?").run(share.id);
}

/**
 * Wrong passwords are counted in the share's row (10 in 15 minutes lock it until the window ends), so a
 * restart of the service does not reset the count. Each attempt is counted as a failure before its hash is
 * computed (one synchronous step on the row) and cleared when it matches: guesses that arrive together cannot
 * all pass the limit while their hashes run.
 */
async function checkPassword(ctx: Ctx, id: string, password: string | undefined): Promise<void> {
  if (password === undefined)
    throw new ApiError(401, "this share needs a password (x-share-password header)");
  const share = countAttempt(ctx, id);
  if (await passwordMatches(share.password_hash!, password)) {
    ctx.db
      .prepare("UPDATE shares SET password_failures = 0, password_failures_since = NULL WHERE id = ?")
      .run(id);
    return;
  }
  throw new ApiError(403, "wrong password for this share");
}

/** Refuses a share over its limit (429); otherwise counts this attempt as a failure until it matches. */
function countAttempt(ctx: Ctx, id: string): ShareRow {
  const share = shareRow(ctx, id)!;
  const now = Date.now();
  const since = share.password_failures_since;
  const inWindow = since !== null && now - since < FAILURE_WINDOW_MS;
  if (inWindow && share.password_failures >= MAX_FAILURES) {
    throw new ApiError(429, "too many wrong passwords for this share; try again later");
  }
  ctx.db
    .prepare("UPDATE shares SET password_failures = ?, password_failures_since = ? WHERE id = ?")
    .run(inWindow ? share.password_failures + 1 : 1, inWindow ? since : now, id);
  return share;
}
