/**
 * The fleet registry: enrolment tokens and sites.
 *
 * Invariants:
 * - A token is shown once, at creation; only its sha256 is stored.
 * - A token is redeemed at most once, by one atomic UPDATE, however many redeem it at the same time.
 * - The site id 'hub' is reserved: versions written by the hub carry it (see apply.ts, hub-wins).
 * - Every function takes a HubQuery, so a caller can combine them in one transaction (redeem + addSite).
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { HUB_SITE } from "./apply.js";
import type { HubQuery } from "./db.js";

export type SiteStatus = "active" | "revoked";

export interface Site {
  id: string;
  name: string;
  status: SiteStatus;
  enrolledAt: Date;
  revokedAt: Date | null;
  lastSeen: Date | null;
  version: string | null;
  profile: string | null;
  natsUser: string | null;
  natsPasswordHash: string | null;
}

export interface SiteWithWatermarks extends Site {
  watermarks: { service: string; seq: number; hlc: string; at: Date }[];
}

export type TokenRefusal = "unknown" | "used" | "expired";

/** Why a token was refused; `reason` is for the caller's status code, the message for people. */
export class EnrolTokenError extends Error {
  constructor(readonly reason: TokenRefusal) {
    super(
      reason === "unknown"
        ? "unknown enrolment token"
        : reason === "used"
          ? "enrolment token already used"
          : "enrolment token expired",
    );
    this.name = "EnrolTokenError";
  }
}

const sha256 = (token: string) => createHash("sha256").update(token).digest("hex");

/** Creates a one-time enrolment token, optionally meant for one site id; returns the token itself once. */
export async function createEnrolToken(
  db: HubQuery,
  opts: { ttlMs: number; site?: string; now?: Date },
): Promise<{ id: string; token: string; expiresAt: Date }> {
  const now = opts.now ?? new Date();
  const id = randomUUID();
  const token = randomBytes(32).toString("base64url");
  const expiresAt = new Date(now.getTime() + opts.ttlMs);
  await db.query(
    "INSERT INTO enrol_tokens (id, token_hash, site, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
    [id, sha256(token), opts.site ?? null, expiresAt, now],
  );
  return { id, token, expiresAt };
}

/** Marks the token used and returns it; throws EnrolTokenError (unknown, used or expired) otherwise. */
export async function redeemToken(
  db: HubQuery,
  token: string,
  now: Date = new Date(),
): Promise<{ id: string; site: string | null }> {
  const hash = sha256(token);
  const [won] = await db.query<{ id: string; site: string | null }>(
    `UPDATE enrol_tokens SET used_at = $2
     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING id, site`,
    [hash, now],
  );
  if (won) return won;
  const [row] = await db.query<{ used_at: Date | null }>(
    "SELECT used_at FROM enrol_tokens WHERE token_hash = $1",
    [hash],
  );
  throw new EnrolTokenError(!row ? "unknown" : row.used_at ? "used" : "expired");
}

/**
 * Gives a redeemed token back: the enrolment it was spent on could not be completed, and the box was told
 * to try again with it. Its expiry still holds.
 */
export async function releaseToken(db: HubQuery, id: string): Promise<void> {
  await db.query("UPDATE enrol_tokens SET used_at = NULL WHERE id = $1", [id]);
}

const SITE_COLUMNS = `id, name, status, enrolled_at AS "enrolledAt", revoked_at AS "revokedAt",
  last_seen AS "lastSeen", version, profile, nats_user AS "natsUser", nats_password_hash AS "natsPasswordHash"`;

export interface NewSite {
  id: string;
  /** For people; the id when not given. */
  name?: string;
  version?: string | null;
  profile?: string | null;
  natsUser?: string | null;
  natsPasswordHash?: string | null;
  now?: Date;
}

/** Registers an active site; throws on a duplicate id or NATS user, or on the reserved id 'hub'. */
export async function addSite(db: HubQuery, site: NewSite): Promise<Site> {
  if (site.id === HUB_SITE || site.id === "") {
    throw new TypeError(`site id ${JSON.stringify(site.id)} is reserved`);
  }
  const [row] = await db.query<Site>(
    `INSERT INTO sites (id, name, status, enrolled_at, profile, nats_user, nats_password_hash, version)
     VALUES ($1, $2, 'active', $3, $4, $5, $6, $7) RETURNING ${SITE_COLUMNS}`,
    [
      site.id,
      site.name ?? site.id,
      site.now ?? new Date(),
      site.profile ?? null,
      site.natsUser ?? null,
      site.natsPasswordHash ?? null,
      site.version ?? null,
    ],
  );
  return row as Site;
}

/** Enrols `site.id` again (a reinstalled box, or one revoked before): new credentials, active again. */
export async function reEnrolSite(db: HubQuery, site: NewSite): Promise<Site | null> {
  const [row] = await db.query<Site>(
    `UPDATE sites SET status = 'active', revoked_at = NULL, nats_user = $2, nats_password_hash = $3,
       version = $4, profile = $5 WHERE id = $1 RETURNING ${SITE_COLUMNS}`,
    [
      site.id,
      site.natsUser ?? null,
      site.natsPasswordHash ?? null,
      site.version ?? null,
      site.profile ?? null,
    ],
  );
  return row ?? null;
}

/** One site, or null.*/
export async function getSite(db: HubQuery, id: string): Promise<Site | null> {
  const [row] = await db.query<Site>(`SELECT ${SITE_COLUMNS} FROM sites WHERE id = $1`, [id]);
  return row ?? null;
}

/** Revokes a site (it keeps its data); returns it, or null when there is no such site. */
export async function revokeSite(db: HubQuery, id: string, now: Date = new Date()): Promise<Site | null> {
  const [row] = await db.query<Site>(
    `UPDATE sites SET status = 'revoked', revoked_at = COALESCE(revoked_at, $2) WHERE id = $1
     RETURNING ${SITE_COLUMNS}`,
    [id, now],
  );
  return row ?? null;
}

/** Records that a site was heard from; version and profile are kept when not given. False: no such site. */
export async function touchSite(
  db: HubQuery,
  id: string,
  seen: { lastSeen?: Date; version?: string; profile?: string } = {},
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE sites SET last_seen = $2, version = COALESCE($3, version), profile = COALESCE($4, profile)
     WHERE id = $1 RETURNING id`,
    [id, seen.lastSeen ?? new Date(), seen.version ?? null, seen.profile ?? null],
  );
  return rows.length > 0;
}

/** Every site by id, each with the watermark of each of its services. */
export async function listSites(db: HubQuery): Promise<SiteWithWatermarks[]> {
  const sites = await db.query<Site>(`SELECT ${SITE_COLUMNS} FROM sites ORDER BY id COLLATE "C"`);
  const marks = await db.query<{
    site: string;
    service: string;
    seq: string | number;
    hlc: string;
    at: Date;
  }>(
    `SELECT w.site, w.service, w.seq, w.hlc, w.at FROM watermarks w JOIN sites s ON s.id = w.site
     ORDER BY w.service COLLATE "C"`,
  );
  return sites.map((s) => ({
    ...s,
    watermarks: marks
      .filter((m) => m.site === s.id)
      .map((m) => ({ service: m.service, seq: Number(m.seq), hlc: m.hlc, at: m.at })),
  }));
}

/** Every site's status by id (no credentials, no watermarks): for housekeeping that only asks who is active. */
export async function siteStatuses(db: HubQuery): Promise<Map<string, SiteStatus>> {
  const rows = await db.query<{ id: string; status: SiteStatus }>("SELECT id, status FROM sites");
  return new Map(rows.map((r) => [r.id, r.status]));
}
