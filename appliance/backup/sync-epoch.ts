/**
 * Restoring an enrolled box: a new sync epoch for every restored database with an outbox, so the restored box
 * neither reuses an outbox seq the hub already acknowledged (from the life the backup came from, which went
 * on after the backup) nor resends what the hub has.
 *
 * Before the databases are swapped in, the restore asks the hub (the site's own credentials, from the restored
 * or the existing hub link) for its watermark per service (`GET /api/hub/backups/sync-position`). Each staged
 * database then drops the sync rows the hub's watermark covers and starts its seq past the watermark and past
 * the backup's own highest seq by EPOCH_GAP (room for what the old life sent that the hub received but has not
 * chained yet). When the hub cannot be reached the seq starts OFFLINE_GAP past the backup's highest seq
 * instead: more than any box issues between a backup and its restore (2^40: 35 years at 1000 changes/s), so
 * no old seq comes back; rows the hub already has are then sent again and dropped by its inbox (by id).
 *
 * The box's sync stream (in `<data>/nats`, not in a backup) starts anew on new hardware, numbered from 1, and
 * the hub sources it from after the last sequence it got from the old one: it would skip the new stream's
 * first messages. So the restore leaves SYNC_STREAM_MARKER in the data dir, and the supervisor, creating the
 * stream, moves an empty one's next sequence to the marker's (the restore time in microseconds: past any
 * sequence an earlier stream of the site reached unless it published over a million messages a second, or
 * the new box's clock is behind the old one's) and removes the marker.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { HubLink } from "../sync/hub-link.js";
import { startSyncEpoch } from "../sync/state.js";
import { writeAtomic } from "./fs-atomic.js";
import { SYNC_STREAM_MARKER } from "./markers.js";

export { clearSyncStreamMarker, restoredSyncStreamSeq, SYNC_STREAM_MARKER } from "./markers.js";

export const EPOCH_GAP = 2 ** 32;
export const OFFLINE_GAP = 2 ** 40;

export interface SyncEpoch {
  service: string;
  /** The hub's watermark for the service (null: the hub could not be asked). */
  hubWatermark: number | null;
  /** The highest seq the backup's outbox had issued. */
  backupSeq: number;
  /** The seq the restored box's next change gets. */
  nextSeq: number;
}

/** The hub link the restored box will have: the backup's (secrets restored) or the box's own. */
function hubLinkOf(dataDir: string, staging: string): HubLink | null {
  for (const dir of [staging, dataDir]) {
    const file = join(dir, "secrets", "hub.json");
    if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as HubLink;
  }
  return null;
}

/** The hub's watermark per service for the link's site; null when the hub does not answer. */
export async function hubSyncPosition(
  link: Pick<HubLink, "hubUrl" | "user" | "password">,
  timeoutMs = 10_000,
): Promise<Record<string, number> | null> {
  try {
    const res = await fetch(new URL("/api/hub/backups/sync-position", link.hubUrl), {
      headers: { authorization: `Basic ${Buffer.from(`${link.user}:${link.password}`).toString("base64")}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.status !== 200) return null;
    const body = (await res.json()) as { watermarks?: Record<string, unknown> };
    const out: Record<string, number> = {};
    for (const [service, seq] of Object.entries(body.watermarks ?? {})) {
      if (typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0) out[service] = seq;
    }
    return out;
  } catch {
    return null;
  }
}

const hasTable = (db: Database.Database, name: string) =>
  !!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name);

/**
 * Starts a new sync epoch in each staged database (`<staging>/services/<s>/<s>.db`) of an enrolled box; a box
 * that is not enrolled is left as it is. Returns what it did per database.
 */
export async function startSyncEpochs(
  dataDir: string,
  staging: string,
  services: string[],
  position: (link: HubLink) => Promise<Record<string, number> | null> = hubSyncPosition,
): Promise<SyncEpoch[]> {
  const link = hubLinkOf(dataDir, staging);
  if (!link) return [];
  const marks = await position(link);
  await markSyncStream(dataDir);
  const out: SyncEpoch[] = [];
  for (const service of services) {
    const file = join(staging, "services", service, `${service}.db`);
    if (!existsSync(file)) continue;
    const db = new Database(file, { fileMustExist: true });
    try {
      if (!hasTable(db, "_outbox") || !hasTable(db, "_sync_state")) continue;
      const hubWatermark = marks ? (marks[service] ?? 0) : null;
      const r = startSyncEpoch(db, hubWatermark, marks ? EPOCH_GAP : OFFLINE_GAP);
      out.push({ service, hubWatermark, backupSeq: r.highest, nextSeq: r.next });
    } finally {
      db.close();
    }
  }
  return out;
}

/** Leaves the marker for the supervisor (see the header). */
async function markSyncStream(dataDir: string, now = Date.now()): Promise<void> {
  const file = join(dataDir, SYNC_STREAM_MARKER);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  await writeAtomic(file, `${file}.tmp`, Buffer.from(JSON.stringify({ firstSeq: now * 1000 })));
}
