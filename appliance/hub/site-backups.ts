/**
 * The boxes' backups on the hub, in its database: which object (engine key) each site stored, pointing at
 * content in the hub's blob store, and each complete backup (its manifest arrived), so the hub keeps the last
 * N per site. Every query is by site: a site sees and reads only its own keys. Content the hub no longer
 * references from any backup object is deleted from the store (backup parts are encrypted with fresh nonces,
 * so they never share content with the files' blobs the hub also stores).
 */
import type { HubDb, HubQuery } from "./db.js";

const SEGMENT = "[A-Za-z0-9_][A-Za-z0-9._-]{0,199}";
/** An engine key: `/`-separated segments of safe characters; none starts with a dot (no `.`, `..`). */
export const BACKUP_KEY = new RegExp(`^${SEGMENT}(?:/${SEGMENT}){0,7}$`);
/** A key prefix for listing: empty, or segments ending with `/`, or a partial last segment. */
export const BACKUP_PREFIX = new RegExp(`^(?:${SEGMENT}/){0,7}(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,199})?$`);
const MANIFEST = /^snapshots\/([^/]+)\/manifest\.json$/;

/** The backup a key's manifest completes, or null for any other key. */
export const manifestOf = (key: string): string | null => MANIFEST.exec(key)?.[1] ?? null;

export interface StoredObject {
  sha256: string;
  size: number;
}

/** Records `key` for `site` (replacing what it pointed at); returns the content it pointed at before. */
export async function recordObject(db: HubDb, site: string, key: string, obj: StoredObject) {
  return db.tx(async (q) => {
    const old = await q.query<{ sha256: string }>(
      "SELECT sha256 FROM backup_objects WHERE site = $1 AND key = $2",
      [site, key],
    );
    await q.query(
      `INSERT INTO backup_objects (site, key, sha256, size) VALUES ($1, $2, $3, $4)
       ON CONFLICT (site, key) DO UPDATE SET sha256 = EXCLUDED.sha256, size = EXCLUDED.size, stored_at = now()`,
      [site, key, obj.sha256, obj.size],
    );
    const id = manifestOf(key);
    if (id) {
      await q.query(
        "INSERT INTO site_backups (site, id) VALUES ($1, $2) ON CONFLICT (site, id) DO UPDATE SET stored_at = now()",
        [site, id],
      );
    }
    return old.map((r) => r.sha256).filter((s) => s !== obj.sha256);
  });
}

/** The content `site`'s `key` points at, or null. */
export async function objectOf(db: HubQuery, site: string, key: string): Promise<StoredObject | null> {
  const rows = await db.query<{ sha256: string; size: string | number }>(
    "SELECT sha256, size FROM backup_objects WHERE site = $1 AND key = $2",
    [site, key],
  );
  return rows[0] ? { sha256: rows[0].sha256, size: Number(rows[0].size) } : null;
}

/** `site`'s keys starting with `prefix`. */
export async function listObjects(db: HubQuery, site: string, prefix: string): Promise<string[]> {
  const rows = await db.query<{ key: string }>(
    "SELECT key FROM backup_objects WHERE site = $1 AND left(key, length($2)) = $2 ORDER BY key",
    [site, prefix],
  );
  return rows.map((r) => r.key);
}

/** Removes `site`'s `key` (absent: nothing); returns the content it pointed at. */
export async function removeObject(db: HubDb, site: string, key: string): Promise<string[]> {
  return db.tx(async (q) => {
    const gone = await q.query<{ sha256: string }>(
      "DELETE FROM backup_objects WHERE site = $1 AND key = $2 RETURNING sha256",
      [site, key],
    );
    const id = manifestOf(key);
    if (id) await q.query("DELETE FROM site_backups WHERE site = $1 AND id = $2", [site, id]);
    return gone.map((r) => r.sha256);
  });
}

/** Drops `site`'s complete backups beyond the newest `keep` (their snapshot's objects); returns ids and content. */
export async function keepNewest(db: HubDb, site: string, keep: number) {
  return db.tx(async (q) => {
    const old = await q.query<{ id: string }>(
      "SELECT id FROM site_backups WHERE site = $1 ORDER BY seq DESC OFFSET $2",
      [site, keep],
    );
    const freed: string[] = [];
    for (const { id } of old) {
      const rows = await q.query<{ sha256: string }>(
        "DELETE FROM backup_objects WHERE site = $1 AND left(key, length($2)) = $2 RETURNING sha256",
        [site, `snapshots/${id}/`],
      );
      freed.push(...rows.map((r) => r.sha256));
      await q.query("DELETE FROM site_backups WHERE site = $1 AND id = $2", [site, id]);
    }
    return { removed: old.map((r) => r.id), freed };
  });
}

/** Of `shas`, those no backup object points at any more (safe to delete from the store). */
export async function unreferenced(db: HubQuery, shas: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const sha of new Set(shas)) {
    const rows = await db.query("SELECT 1 FROM backup_objects WHERE sha256 = $1 LIMIT 1", [sha]);
    if (rows.length === 0) out.push(sha);
  }
  return out;
}

/** Bytes `site`'s backup objects take, not counting `except` (a key about to be replaced). */
export async function siteBytes(db: HubQuery, site: string, except: string): Promise<number> {
  const rows = await db.query<{ bytes: string | number }>(
    "SELECT coalesce(sum(size), 0) AS bytes FROM backup_objects WHERE site = $1 AND key <> $2",
    [site, except],
  );
  return Number(rows[0]?.bytes ?? 0);
}

/** The hub's sync watermark (the highest seq applied in an unbroken chain) per service of `site`. */
export async function siteWatermarks(db: HubQuery, site: string): Promise<Record<string, number>> {
  const rows = await db.query<{ service: string; seq: string | number }>(
    "SELECT service, seq FROM watermarks WHERE site = $1",
    [site],
  );
  return Object.fromEntries(rows.map((r) => [r.service, Number(r.seq)]));
}

/** What the hub holds of `site`'s backups, newest first (for the hub admin). */
export async function siteBackups(db: HubQuery, site: string) {
  const rows = await db.query<{
    id: string;
    stored_at: Date | string;
    bytes: string | number;
    objects: string | number;
  }>(
    `SELECT b.id, b.stored_at,
       (SELECT coalesce(sum(size), 0) FROM backup_objects o WHERE o.site = b.site AND left(o.key, length('snapshots/' || b.id || '/')) = 'snapshots/' || b.id || '/') AS bytes,
       (SELECT count(*) FROM backup_objects o WHERE o.site = b.site AND left(o.key, length('snapshots/' || b.id || '/')) = 'snapshots/' || b.id || '/') AS objects
     FROM site_backups b WHERE b.site = $1 ORDER BY b.seq DESC`,
    [site],
  );
  return rows.map((r) => ({
    id: r.id,
    storedAt: new Date(r.stored_at).toISOString(),
    snapshotBytes: Number(r.bytes),
    objects: Number(r.objects),
  }));
}
