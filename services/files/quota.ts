/**
 * Quotas per space: every version counts (old versions and the trash too, until purged), and so do the
 * declared sizes of resumable uploads still in progress. 0 means no limit. Exceeding one is a 507 with
 * `data.reason = "quota"`, so a client can tell it from a full disk.
 */
import { ApiError, type ServiceContext } from "../../appliance/kit/index.js";

type Ctx = ServiceContext<unknown>;

export interface QuotaDefaults {
  defaultUserQuotaBytes: number;
  defaultTeamQuotaBytes: number;
}

/** Bytes stored in a space, and bytes reserved by its open uploads. */
export function usage(ctx: Ctx, space: string): { used: number; reserved: number } {
  const used = ctx.db
    .prepare(
      "SELECT IFNULL(SUM(v.size), 0) AS n FROM versions v JOIN nodes n ON n.id = v.node_id WHERE n.space = ?",
    )
    .get(space) as { n: number };
  const reserved = ctx.db
    .prepare("SELECT IFNULL(SUM(size), 0) AS n FROM uploads WHERE space = ?")
    .get(space) as { n: number };
  return { used: used.n, reserved: reserved.n };
}

export function quotaOf(ctx: Ctx, space: string, d: QuotaDefaults): number {
  const row = ctx.db.prepare("SELECT bytes FROM quotas WHERE space = ?").get(space) as
    | { bytes: number }
    | undefined;
  if (row) return row.bytes;
  return space.startsWith("team:") ? d.defaultTeamQuotaBytes : d.defaultUserQuotaBytes;
}

export function setQuota(ctx: Ctx, space: string, bytes: number | null): void {
  if (bytes === null) ctx.db.prepare("DELETE FROM quotas WHERE space = ?").run(space);
  else {
    ctx.db
      .prepare("INSERT INTO quotas (space, bytes) VALUES (?, ?) ON CONFLICT (space) DO UPDATE SET bytes = ?")
      .run(space, bytes, bytes);
  }
}

export function spaceUsage(ctx: Ctx, space: string, d: QuotaDefaults) {
  const u = usage(ctx, space);
  return { usedBytes: u.used, reservedBytes: u.reserved, quotaBytes: quotaOf(ctx, space, d) };
}

/**
 * 507 unless `extra` more bytes fit. `ownReservation` is what the caller's own upload already reserved
 * (it is counted in `reserved` and must not be counted twice).
 */
export function requireRoom(ctx: Ctx, space: string, extra: number, d: QuotaDefaults, ownReservation = 0) {
  const quota = quotaOf(ctx, space, d);
  if (quota === 0) return;
  const u = usage(ctx, space);
  const after = u.used + u.reserved - ownReservation + extra;
  if (after > quota) {
    throw new ApiError(507, "this would exceed the space's quota; nothing was stored", {
      reason: "quota",
      space,
      usedBytes: u.used,
      reservedBytes: u.reserved - ownReservation,
      quotaBytes: quota,
      neededBytes: extra,
    });
  }
}
