/**
 * Short-lived signed playback URLs: `/api/media/play/<token>/<output>`, where the token is
 * `<jobId>.<expiry>.<HMAC-SHA256(key, jobId.expiry)>`. The token sits in the path, so the relative URIs inside
 * HLS playlists (renditions, segments) inherit it, and a plain `<video>` or hls.js needs no header. The key is
 * random per box, kept in the service's database.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Ctx } from "./jobs.js";

const keys = new WeakMap<object, Buffer>();

function keyOf(ctx: Ctx): Buffer {
  let key = keys.get(ctx);
  if (key) return key;
  const row = ctx.db.prepare("SELECT value FROM settings WHERE key = 'signing_key'").get() as
    | { value: string }
    | undefined;
  if (row) key = Buffer.from(row.value, "base64url");
  else {
    key = randomBytes(32);
    ctx.db
      .prepare("INSERT OR IGNORE INTO settings (key, value) VALUES ('signing_key', ?)")
      .run(key.toString("base64url"));
    key = Buffer.from(
      (ctx.db.prepare("SELECT value FROM settings WHERE key = 'signing_key'").get() as { value: string })
        .value,
      "base64url",
    );
  }
  keys.set(ctx, key);
  return key;
}

const mac = (key: Buffer, payload: string) => createHmac("sha256", key).update(payload).digest("base64url");

/** A token for `jobId` valid for `seconds`. */
export function signPlayback(ctx: Ctx, jobId: string, seconds: number, now = Date.now()): string {
  const exp = Math.floor(now / 1000) + seconds;
  return `${jobId}.${exp}.${mac(keyOf(ctx), `${jobId}.${exp}`)}`;
}

/** The job id a token is valid for, or why not. */
export function verifyPlayback(
  ctx: Ctx,
  token: string,
  now = Date.now(),
): { jobId: string } | { error: string } {
  const parts = token.split(".");
  if (parts.length !== 3) return { error: "malformed playback token" };
  const [jobId, exp, sig] = parts as [string, string, string];
  if (!/^[0-9a-f-]{36}$/.test(jobId) || !/^\d{1,12}$/.test(exp)) return { error: "malformed playback token" };
  const want = Buffer.from(mac(keyOf(ctx), `${jobId}.${exp}`));
  const got = Buffer.from(sig);
  if (want.length !== got.length || !timingSafeEqual(want, got)) return { error: "invalid playback token" };
  if (Number(exp) * 1000 < now) return { error: "playback token expired" };
  return { jobId };
}
