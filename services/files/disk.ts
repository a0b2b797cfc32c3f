/**
 * Free space for uploads. Uploads and blob writes stop at the box's disk reserve (`ctx.disk`), so a disk
 * filled by uploads still leaves room for logins, settings, logs, the outbox and SQLite's WAL. Every way an
 * upload can run out of space is the same answer: 507 with `data.reason = "disk-full"`, nothing stored.
 */
import { ApiError, type DiskReserve, diskRoom, isDiskFullError } from "../../appliance/kit/index.js";

const DISK_FULL_MESSAGE = "the box's disk is full; nothing was stored";

/** The 507 an upload gets when the disk cannot take it. */
export function diskFull(details: { roomBytes?: number; reserveBytes?: number; neededBytes?: number } = {}) {
  return new ApiError(507, DISK_FULL_MESSAGE, { reason: "disk-full", ...details });
}

/** `err` as the 507 disk-full answer when it is ENOSPC/EDQUOT/SQLITE_FULL, otherwise as it is. */
export function asDiskFull(err: unknown): unknown {
  return isDiskFullError(err) ? diskFull() : err;
}

/**
 * 507 unless `bytes` more fit above the reserve on the disk holding `dir`. Also 507 when the reserve is
 * already being used, whatever the size: an upload of unknown length must not start then.
 */
export function requireDiskRoom(dir: string, reserve: DiskReserve, bytes: number): void {
  const room = diskRoom(dir, reserve);
  if (room.roomBytes <= 0 || bytes > room.roomBytes) {
    throw diskFull({
      roomBytes: Math.max(0, room.roomBytes),
      reserveBytes: room.reserveBytes,
      neededBytes: bytes,
    });
  }
}

/** A check for a streaming write into `dir`: throws the 507 before a batch of `bytes` would cut into the reserve. */
export const diskGuard = (dir: string, reserve: DiskReserve) => (bytes: number) =>
  requireDiskRoom(dir, reserve, bytes);
