/**
 * The disk reserve: space on the data disk that uploads and blob writes may not consume, so that what keeps
 * the box running (identity's sessions and audit, settings, logs, the outbox, SQLite's WAL) always has room.
 * Box-wide: one setting (`disk` in config.json, `NEXUS_DISK_*` in the environment), read by the supervisor and
 * handed to every service host, which gets it as `ctx.disk`.
 */
import { statfsSync } from "node:fs";
import { z } from "zod";
import { loadConfig } from "./config.js";

const MiB = 1024 * 1024;

export const diskReserveSchema = z.object({
  /** Reserve as a share of the disk's size… */
  reservePercent: z.number().min(0).max(50).default(5),
  /** …but never more than this many bytes (a 4 TB disk does not need 200 GB held back). */
  reserveBytes: z
    .number()
    .int()
    .min(0)
    .default(256 * MiB),
});

export type DiskReserve = z.infer<typeof diskReserveSchema>;

/** The reserve settings from `NEXUS_DISK_*` over `fileValues` (defaults: 5 %, 256 MiB). */
export function loadDiskReserve(env?: NodeJS.ProcessEnv, fileValues?: Record<string, unknown>): DiskReserve {
  return loadConfig(diskReserveSchema, { prefix: "NEXUS_DISK_", env, fileValues });
}

/** Bytes held back on a disk of `totalBytes`: the smaller of the percentage and the absolute cap. */
export function reserveOf(totalBytes: number, r: DiskReserve): number {
  return Math.floor(Math.min((totalBytes * r.reservePercent) / 100, r.reserveBytes));
}

export interface DiskRoom {
  totalBytes: number;
  /** What an unprivileged process may still write. */
  availableBytes: number;
  reserveBytes: number;
  /** What uploads may still use: available minus the reserve (negative once the reserve is being used). */
  roomBytes: number;
}

/** The room on the file system holding `path`. One statfs call: cheap enough to make every MiB of an upload. */
export function diskRoom(path: string, r: DiskReserve): DiskRoom {
  const s = statfsSync(path);
  const totalBytes = s.blocks * s.bsize;
  const availableBytes = s.bavail * s.bsize;
  const reserveBytes = reserveOf(totalBytes, r);
  return { totalBytes, availableBytes, reserveBytes, roomBytes: availableBytes - reserveBytes };
}

/** True for the errors a write raises when the disk (or a quota on it) is full. */
export function isDiskFullError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL";
}
