/**
 * Model packs the hub distributes to its boxes (pack-routes.ts has the HTTP side).
 *
 * Invariants:
 * - A pack is verified on upload as a box would (manifest, every sha256, signature by a trusted key); its file is
 *   in the blob store under its sha256. A name+version is uploaded once (the same file again is a no-op; other
 *   content under it is refused).
 * - One assignment per model name: assigning a version replaces the name's assignment (and forgets the sites'
 *   reports of that version, so a box that failed it tries again).
 * - A site is offered to install exactly the assigned packs whose site list includes it (or all sites), and to
 *   remove exactly the unassigned ones whose assignment said `removeOnUnassign`; it may download only a pack it
 *   is offered to install.
 * - A site's report is kept per model name (the latest wins).
 */
import { ApiError } from "../kit/errors.js";
import type { HubDb, HubQuery } from "./db.js";

export interface PackRow {
  name: string;
  version: string;
  sha256: string;
  size: number;
  task: string;
  license: string;
  signer: string;
}

export type PackOutcome = "installed" | "failed" | "removed";

/** What a site is offered for one pack: the hub's last report of it from this site rides along. */
export interface PackOffer {
  name: string;
  version: string;
  sha256: string;
  size: number;
  /** What this site reported for this version (null: nothing yet). */
  reported: PackOutcome | null;
}

interface AssignmentRow {
  name: string;
  version: string;
  sites: string[] | string | null;
  remove_on_unassign: boolean;
  state: "assigned" | "unassigned";
}

const sitesOf = (a: AssignmentRow): string[] | null =>
  a.sites === null ? null : typeof a.sites === "string" ? (JSON.parse(a.sites) as string[]) : a.sites;
const covers = (a: AssignmentRow, site: string) => {
  const s = sitesOf(a);
  return s === null || s.includes(site);
};

const toPack = (r: PackRow & { size: string | number }): PackRow => ({ ...r, size: Number(r.size) });

/** Records an uploaded pack; false when that name and version are already there with the same content. */
export async function addPack(db: HubQuery, p: PackRow): Promise<boolean> {
  // One statement, so two uploads of the same pack at once cannot both insert (nor fail on the key).
  const added = await db.query(
    `INSERT INTO model_packs (name, version, sha256, size, task, license, signer)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name, version) DO NOTHING RETURNING name`,
    [p.name, p.version, p.sha256, p.size, p.task, p.license, p.signer],
  );
  if (added.length > 0) return true;
  if ((await getPack(db, p.name, p.version))?.sha256 === p.sha256) return false;
  throw new ApiError(409, `${p.name} ${p.version} was uploaded before with other content`);
}

/** One pack, or null. */
export async function getPack(db: HubQuery, name: string, version: string): Promise<PackRow | null> {
  const [row] = await db.query<PackRow & { size: string | number }>(
    "SELECT name, version, sha256, size, task, license, signer FROM model_packs WHERE name = $1 AND version = $2",
    [name, version],
  );
  return row ? toPack(row) : null;
}

/** Assigns a pack to every active site (`sites` null) or to a list of active sites; replaces the name's. */
export async function assign(
  db: HubDb,
  name: string,
  version: string,
  sites: string[] | null,
  removeOnUnassign: boolean,
) {
  return db.tx(async (q) => {
    if (!(await getPack(q, name, version))) throw new ApiError(404, `no uploaded pack ${name} ${version}`);
    if (sites) {
      const rows = await q.query<{ id: string }>("SELECT id FROM sites WHERE status = 'active'");
      const known = new Set(rows.map((r) => r.id));
      const unknown = sites.filter((s) => !known.has(s));
      if (unknown.length) throw new ApiError(400, `not active sites: ${unknown.join(", ")}`);
    }
    const list = sites ? [...new Set(sites)] : null;
    await q.query("DELETE FROM model_reports WHERE name = $1 AND version = $2 AND outcome <> 'installed'", [
      name,
      version,
    ]);
    await q.query(
      `INSERT INTO model_assignments (name, version, sites, remove_on_unassign, state)
       VALUES ($1, $2, $3, $4, 'assigned')
       ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, sites = EXCLUDED.sites,
         remove_on_unassign = EXCLUDED.remove_on_unassign, state = 'assigned', updated_at = now()`,
      [name, version, list === null ? null : JSON.stringify(list), removeOnUnassign],
    );
    return { name, version, sites: list ?? "all", removeOnUnassign, state: "assigned" as const };
  });
}

/** Ends a pack's assignment; the boxes remove it only when the assignment said `removeOnUnassign`. */
export async function unassign(db: HubDb, name: string, version: string) {
  return db.tx(async (q) => {
    const [a] = await q.query<AssignmentRow>(
      "SELECT name, version, sites, remove_on_unassign, state FROM model_assignments WHERE name = $1 FOR UPDATE",
      [name],
    );
    if (a?.version !== version || a.state !== "assigned")
      throw new ApiError(404, `${name} ${version} is not assigned`);
    await q.query("UPDATE model_assignments SET state = 'unassigned', updated_at = now() WHERE name = $1", [
      name,
    ]);
    return { name, version, state: "unassigned" as const, removeFromBoxes: a.remove_on_unassign };
  });
}

async function reportsOf(db: HubQuery, site?: string) {
  return db.query<{
    site: string;
    name: string;
    version: string;
    outcome: PackOutcome;
    reason: string | null;
    at: Date;
  }>(
    `SELECT site, name, version, outcome, reason, at FROM model_reports${site ? " WHERE site = $1" : ""} ORDER BY site`,
    site ? [site] : [],
  );
}

/** What `site` is offered now: packs to install, and packs to remove. */
export async function offersFor(db: HubQuery, site: string) {
  const rows = await db.query<AssignmentRow>(
    "SELECT name, version, sites, remove_on_unassign, state FROM model_assignments ORDER BY name",
  );
  const reports = await reportsOf(db, site);
  const reported = (a: AssignmentRow) =>
    reports.find((r) => r.name === a.name && r.version === a.version)?.outcome ?? null;
  const install: PackOffer[] = [];
  const remove: { name: string; version: string }[] = [];
  for (const a of rows.filter((x) => covers(x, site))) {
    if (a.state === "assigned") {
      const p = (await getPack(db, a.name, a.version)) as PackRow;
      install.push({
        name: a.name,
        version: a.version,
        sha256: p.sha256,
        size: p.size,
        reported: reported(a),
      });
    } else if (a.remove_on_unassign && reported(a) !== "removed") {
      remove.push({ name: a.name, version: a.version });
    }
  }
  return { install, remove };
}

/** The pack `site` may download (one it is offered to install), or null. */
export async function offeredPack(db: HubQuery, site: string, name: string, version: string) {
  const { install } = await offersFor(db, site);
  return install.some((o) => o.name === name && o.version === version) ? getPack(db, name, version) : null;
}

/** A box's result for a pack it was offered; a report of a pack never offered to it is refused (409). */
export async function recordPackReport(
  db: HubQuery,
  site: string,
  r: { name: string; version: string; outcome: PackOutcome; reason?: string },
) {
  const offers = await offersFor(db, site);
  const list = r.outcome === "removed" ? offers.remove : offers.install;
  if (!list.some((o) => o.name === r.name && o.version === r.version))
    throw new ApiError(409, `${r.name} ${r.version} is not offered to this site`);
  await db.query(
    `INSERT INTO model_reports (site, name, version, outcome, reason) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (site, name) DO UPDATE SET version = EXCLUDED.version, outcome = EXCLUDED.outcome,
       reason = EXCLUDED.reason, at = now()`,
    [site, r.name, r.version, r.outcome, r.reason?.slice(0, 2000) ?? null],
  );
}

/** Every pack with its assignment and each concerned site's state (the fleet page's view). */
export async function packView(db: HubQuery, activeSites: string[]) {
  const packs = await db.query<PackRow & { size: string | number; uploaded_at: Date }>(
    "SELECT name, version, sha256, size, task, license, signer, uploaded_at FROM model_packs ORDER BY name, version",
  );
  const rows = await db.query<AssignmentRow>(
    "SELECT name, version, sites, remove_on_unassign, state FROM model_assignments",
  );
  const reports = await reportsOf(db);
  return packs.map((p) => {
    const a = rows.find((x) => x.name === p.name && x.version === p.version);
    const mine = reports.filter((r) => r.name === p.name && r.version === p.version);
    const targets = a ? (sitesOf(a) ?? activeSites) : [];
    const siteIds = [...new Set([...targets, ...mine.map((r) => r.site)])].sort();
    return {
      ...toPack(p),
      uploadedAt: new Date(p.uploaded_at).toISOString(),
      assignment: a
        ? { sites: sitesOf(a) ?? "all", removeOnUnassign: a.remove_on_unassign, state: a.state }
        : null,
      sites: siteIds.map((site) => {
        const r = mine.find((x) => x.site === site);
        return r
          ? { site, state: r.outcome, reason: r.reason, at: new Date(r.at).toISOString() }
          : { site, state: "pending" as const, reason: null, at: null };
      }),
    };
  });
}
