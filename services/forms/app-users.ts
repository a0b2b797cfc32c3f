/**
 * App users: per-device credentials for ODK Collect and other OpenRosa clients, created and revoked by an
 * admin. The token (32 random bytes, base64url) is shown once, at creation, inside the client URL
 * (`…/openrosa/key/<token>`, as ODK Central's `/key/<token>/`) and Collect's QR settings; only its sha256 is
 * stored. A client may also send HTTP Basic with the app user's name and token. An app user created with a
 * list of forms (or given one later) sees and submits only those forms, as ODK Central's form assignments;
 * one created without a list may use every published form. Taking a form away works at once.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { deflateSync } from "node:zlib";
import { ApiError } from "../../appliance/kit/index.js";
import { type Ctx, now } from "./state.js";

export interface AppUser {
  id: string;
  name: string;
  createdBy: string;
  createdAt: string;
  revokedAt: string | null;
  /** The forms it may use, or null for every form. */
  forms: string[] | null;
}

interface Row {
  id: string;
  name: string;
  token_hash: string;
  created_by: string;
  created_at: string;
  revoked_at: string | null;
  all_forms: number;
}

const hashOf = (token: string) => createHash("sha256").update(token).digest("hex");
function out(ctx: Ctx, r: Row): AppUser {
  return {
    id: r.id,
    name: r.name,
    createdBy: r.created_by,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    forms: r.all_forms ? null : formsOfUser(ctx, r.id),
  };
}

function formsOfUser(ctx: Ctx, id: string): string[] {
  return (
    ctx.db.prepare("SELECT form_id FROM app_user_forms WHERE app_user_id = ? ORDER BY form_id").all(id) as {
      form_id: string;
    }[]
  ).map((x) => x.form_id);
}

/** Sets the forms an app user may use (null: every form); applies to its next request. */
export function setAppUserForms(ctx: Ctx, id: string, forms: string[] | null): AppUser {
  return ctx.tx(() => {
    const r = getRow(ctx, id);
    if (!r) throw new ApiError(404, "no such app user");
    ctx.db.prepare("DELETE FROM app_user_forms WHERE app_user_id = ?").run(id);
    ctx.db.prepare("UPDATE app_users SET all_forms = ? WHERE id = ?").run(forms ? 0 : 1, id);
    const add = ctx.db.prepare("INSERT OR IGNORE INTO app_user_forms (app_user_id, form_id) VALUES (?, ?)");
    for (const f of forms ?? []) add.run(id, f);
    return out(ctx, getRow(ctx, id)!);
  });
}

/** Whether `user` may see and submit form `formId`. */
export function mayUseForm(ctx: Ctx, user: AppUser, formId: string): boolean {
  if (!user.forms) return true;
  return !!ctx.db
    .prepare("SELECT 1 FROM app_user_forms WHERE app_user_id = ? AND form_id = ?")
    .get(user.id, formId);
}

/** Creates an app user; returns it with its token (never shown again). */
export function createAppUser(
  ctx: Ctx,
  name: string,
  by: string,
  forms: string[] | null = null,
): AppUser & { token: string } {
  const token = randomBytes(32).toString("base64url");
  const id = randomUUID();
  try {
    ctx.db
      .prepare("INSERT INTO app_users (id, name, token_hash, created_by, created_at) VALUES (?, ?, ?, ?, ?)")
      .run(id, name, hashOf(token), by, now());
  } catch (err) {
    if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE")
      throw new ApiError(409, `an app user named "${name}" exists`, { name });
    throw err;
  }
  return { ...setAppUserForms(ctx, id, forms), token };
}

function getRow(ctx: Ctx, id: string): Row | undefined {
  return ctx.db.prepare("SELECT * FROM app_users WHERE id = ?").get(id) as Row | undefined;
}

export function listAppUsers(ctx: Ctx): AppUser[] {
  return (ctx.db.prepare("SELECT * FROM app_users ORDER BY created_at, name").all() as Row[]).map((r) =>
    out(ctx, r),
  );
}

/** Revokes an app user: its token stops working at once. */
export function revokeAppUser(ctx: Ctx, id: string): AppUser {
  const r = getRow(ctx, id);
  if (!r) throw new ApiError(404, "no such app user");
  if (!r.revoked_at) ctx.db.prepare("UPDATE app_users SET revoked_at = ? WHERE id = ?").run(now(), id);
  return out(ctx, getRow(ctx, id)!);
}

/** The live app user holding `token` (and named `name`, for HTTP Basic), or null. */
export function appUserByToken(ctx: Ctx, token: string, name?: string): AppUser | null {
  if (!token || token.length > 200) return null;
  const r = ctx.db
    .prepare("SELECT * FROM app_users WHERE token_hash = ? AND revoked_at IS NULL")
    .get(hashOf(token)) as Row | undefined;
  if (!r) return null;
  if (name !== undefined) {
    const a = Buffer.from(name);
    const b = Buffer.from(r.name);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return null;
  }
  return out(ctx, r);
}

/** Name and password of an `Authorization: Basic` header, or null. */
export function basicCredentials(header: string | undefined): { name: string; token: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  if (!m) return null;
  const text = Buffer.from(m[1]!, "base64").toString("utf8");
  const i = text.indexOf(":");
  return i < 0 ? null : { name: text.slice(0, i), token: text.slice(i + 1) };
}

/**
 * What ODK Collect reads from a settings QR code (zlib-compressed base64 JSON in the QR itself; the console
 * draws it): the server URL with the token in it, as ODK Central's app-user QR codes.
 */
export function collectSettings(serverUrl: string, user: { name: string }, token: string) {
  return {
    general: { server_url: `${serverUrl}/key/${token}`, username: "", form_update_mode: "match_exactly" },
    admin: {},
    project: { name: `Nexus Edge: ${user.name}`, icon: "N", color: "#1f6feb" },
  };
}

/** The text ODK Collect expects inside a settings QR code: its settings JSON, zlib-deflated, base64. */
export function collectQrText(settings: object): string {
  return deflateSync(Buffer.from(JSON.stringify(settings))).toString("base64");
}
