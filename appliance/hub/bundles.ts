/**
 * Bundles the hub offers to its boxes, with a staged rollout.
 *
 * Invariants:
 * - A release is a signed bundle verified on upload; its tar.gz is in the blob store under its sha256. A
 *   version is uploaded once (the same file again is a no-op; other content under that version is refused).
 * - Approving resolves the stages to site lists at once (named sites, or a cumulative percentage of the
 *   active sites in an order fixed per version), so a later enrolment never changes who is in a stage.
 * - A site is offered a version only while the rollout is not halted and the stage reached includes it.
 * - The next stage opens only when every site of the stage reached reported the version committed.
 * - A site that reports a rollback (or a failure) halts the rollout: nobody else is offered it.
 * - One rollout is active at a time: approving another halts the one before ("superseded").
 */
import { createHash } from "node:crypto";
import { ApiError } from "../kit/errors.js";
import { compareVersions } from "../upgrade/marker.js";
import type { HubDb, HubQuery } from "./db.js";
import { touchSite } from "./sites.js";

export interface Release {
  version: string;
  sha256: string;
  size: number;
  buildTime: string;
}

/** A stage as approved: named sites, or a cumulative share of the fleet (all stages so far together). */
export type StageSpec = { sites: string[] } | { percent: number };

export type RolloutState = "active" | "halted" | "done";
export type UpgradeReport = { version: string; outcome: string; reason?: string };

interface RolloutRow {
  version: string;
  stages: string[][] | string;
  stage: number;
  state: RolloutState;
  reason: string | null;
}

const stagesOf = (r: RolloutRow): string[][] =>
  typeof r.stages === "string" ? (JSON.parse(r.stages) as string[][]) : r.stages;

/** Records an uploaded release; false when that version is already there with the same content. */
export async function addRelease(db: HubQuery, r: Release): Promise<boolean> {
  const [old] = await db.query<{ sha256: string }>("SELECT sha256 FROM bundle_releases WHERE version = $1", [
    r.version,
  ]);
  if (old) {
    if (old.sha256 === r.sha256) return false;
    throw new ApiError(409, `version ${r.version} was uploaded before with other content`);
  }
  await db.query("INSERT INTO bundle_releases (version, sha256, size, build_time) VALUES ($1, $2, $3, $4)", [
    r.version,
    r.sha256,
    r.size,
    r.buildTime,
  ]);
  return true;
}

/** One release, or null. */
export async function getRelease(db: HubQuery, version: string): Promise<Release | null> {
  const [row] = await db.query<{
    version: string;
    sha256: string;
    size: string | number;
    build_time: string;
  }>("SELECT version, sha256, size, build_time FROM bundle_releases WHERE version = $1", [version]);
  return row
    ? { version: row.version, sha256: row.sha256, size: Number(row.size), buildTime: row.build_time }
    : null;
}

/** The order a percentage stage takes sites in: fixed per version, spread evenly over the fleet. */
const rank = (version: string, site: string) =>
  createHash("sha256").update(`${version}\0${site}`).digest("hex");

/** The stages as site lists (pure): each site in one stage at most; unknown named sites are refused. */
export function resolveStages(version: string, specs: StageSpec[], active: string[]): string[][] {
  const known = new Set(active);
  const ordered = [...active].sort((a, b) => (rank(version, a) < rank(version, b) ? -1 : 1));
  const placed = new Set<string>();
  return specs.map((spec) => {
    let want: string[];
    if ("sites" in spec) {
      const unknown = spec.sites.filter((s) => !known.has(s));
      if (unknown.length) throw new ApiError(400, `not active sites: ${unknown.join(", ")}`);
      want = spec.sites;
    } else want = ordered.slice(0, Math.ceil((ordered.length * spec.percent) / 100));
    const stage = [...new Set(want)].filter((s) => !placed.has(s));
    for (const s of stage) placed.add(s);
    return stage;
  });
}

/** Approves `version` for the stages (replacing a rollout of it, halting any other active one). */
export async function approve(db: HubDb, version: string, specs: StageSpec[]) {
  return db.tx(async (q) => {
    if (!(await getRelease(q, version))) throw new ApiError(404, `no uploaded bundle ${version}`);
    const rows = await q.query<{ id: string }>("SELECT id FROM sites WHERE status = 'active'");
    const stages = resolveStages(
      version,
      specs,
      rows.map((r) => r.id),
    );
    if (!stages.some((s) => s.length)) throw new ApiError(400, "the stages name no active site");
    await q.query(
      `UPDATE bundle_rollouts SET state = 'halted', reason = $2, updated_at = now()
       WHERE state = 'active' AND version <> $1`,
      [version, `superseded by ${version}`],
    );
    await q.query("DELETE FROM bundle_reports WHERE version = $1", [version]);
    await q.query(
      `INSERT INTO bundle_rollouts (version, stages, stage, state) VALUES ($1, $2, 0, 'active')
       ON CONFLICT (version) DO UPDATE SET stages = EXCLUDED.stages, stage = 0, state = 'active', reason = NULL,
         approved_at = now(), updated_at = now()`,
      [version, JSON.stringify(stages)],
    );
    return { version, stages, stage: 0, state: "active" as RolloutState };
  });
}

/** The release offered to `site` now (the highest version whose open stages include it), or null. */
export async function offerFor(db: HubQuery, site: string): Promise<Release | null> {
  const rollouts = await db.query<RolloutRow>(
    "SELECT version, stages, stage, state, reason FROM bundle_rollouts WHERE state <> 'halted'",
  );
  const refused = await db.query<{ version: string }>(
    "SELECT version FROM bundle_reports WHERE site = $1 AND outcome <> 'committed'",
    [site],
  );
  const skip = new Set(refused.map((r) => r.version));
  const open = rollouts
    .filter(
      (r) =>
        !skip.has(r.version) &&
        stagesOf(r)
          .slice(0, r.stage + 1)
          .some((s) => s.includes(site)),
    )
    .sort((a, b) => compareVersions(b.version, a.version));
  return open[0] ? getRelease(db, open[0].version) : null;
}

/** Whether `site` may download `version` (it is offered to it now). */
export async function offeredTo(db: HubQuery, site: string, version: string): Promise<boolean> {
  return (await offerFor(db, site))?.version === version;
}

/** A box's result: kept, its version recorded; a rollback halts the rollout, a full stage opens the next. */
export async function recordReport(db: HubDb, site: string, r: UpgradeReport & { running?: string }) {
  return db.tx(async (q) => {
    await q.query(
      `INSERT INTO bundle_reports (site, version, outcome, reason) VALUES ($1, $2, $3, $4)
       ON CONFLICT (site, version) DO UPDATE SET outcome = EXCLUDED.outcome, reason = EXCLUDED.reason, at = now()`,
      [site, r.version, r.outcome, r.reason ?? null],
    );
    await touchSite(q, site, { version: r.running });
    const [row] = await q.query<RolloutRow>(
      "SELECT version, stages, stage, state, reason FROM bundle_rollouts WHERE version = $1 FOR UPDATE",
      [r.version],
    );
    if (row?.state !== "active") return row ? { state: row.state, stage: row.stage } : null;
    const stages = stagesOf(row);
    if (r.outcome !== "committed") {
      const reason = `site ${site}: ${r.outcome}${r.reason ? ` (${r.reason.slice(0, 500)})` : ""}`;
      await q.query(
        "UPDATE bundle_rollouts SET state = 'halted', reason = $2, updated_at = now() WHERE version = $1",
        [r.version, reason],
      );
      return { state: "halted" as RolloutState, stage: row.stage };
    }
    const done = await q.query<{ site: string }>(
      "SELECT site FROM bundle_reports WHERE version = $1 AND outcome = 'committed'",
      [r.version],
    );
    const committed = new Set(done.map((d) => d.site));
    let stage = row.stage;
    while (stage < stages.length && (stages[stage] ?? []).every((s) => committed.has(s))) stage++;
    const state: RolloutState = stage >= stages.length ? "done" : "active";
    const next = Math.min(stage, stages.length - 1);
    await q.query(
      "UPDATE bundle_rollouts SET stage = $2, state = $3, updated_at = now() WHERE version = $1",
      [r.version, next, state],
    );
    return { state, stage: next };
  });
}

/** Every release with its rollout and the sites' reports, newest version first (the fleet page's view). */
export async function rolloutView(db: HubQuery) {
  const releases = await db.query<{
    version: string;
    sha256: string;
    size: string | number;
    build_time: string;
    uploaded_at: Date;
  }>("SELECT version, sha256, size, build_time, uploaded_at FROM bundle_releases");
  const rollouts = await db.query<RolloutRow>(
    "SELECT version, stages, stage, state, reason FROM bundle_rollouts",
  );
  const reports = await db.query<{
    site: string;
    version: string;
    outcome: string;
    reason: string | null;
    at: Date;
  }>("SELECT site, version, outcome, reason, at FROM bundle_reports ORDER BY site");
  return releases
    .sort((a, b) => compareVersions(b.version, a.version))
    .map((r) => {
      const ro = rollouts.find((x) => x.version === r.version);
      return {
        version: r.version,
        sha256: r.sha256,
        size: Number(r.size),
        buildTime: r.build_time,
        uploadedAt: new Date(r.uploaded_at).toISOString(),
        rollout: ro ? { stages: stagesOf(ro), stage: ro.stage, state: ro.state, reason: ro.reason } : null,
        reports: reports
          .filter((x) => x.version === r.version)
          .map((x) => ({
            site: x.site,
            outcome: x.outcome,
            reason: x.reason,
            at: new Date(x.at).toISOString(),
          })),
      };
    });
}
