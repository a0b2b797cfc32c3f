/** Facts about the box: plain functions, no HTTP. */
import { statfsSync } from "node:fs";
import os from "node:os";

export interface BoxInfo {
  hostname: string;
  platform: string;
  arch: string;
  release: string;
  cpus: number;
  cpuModel: string;
  memoryTotalBytes: number;
  memoryFreeBytes: number;
  loadAverage: number[];
  node: string;
}

/** Static and slowly-changing host facts. */
export function boxInfo(): BoxInfo {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    platform: os.platform(),
    arch: os.arch(),
    release: os.release(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    memoryTotalBytes: os.totalmem(),
    memoryFreeBytes: os.freemem(),
    loadAverage: os.loadavg(),
    node: process.version,
  };
}

export interface DiskInfo {
  path: string;
  totalBytes: number;
  freeBytes: number;
  availableBytes: number;
  usedPercent: number;
}

/** Space on the file system holding `path` (the data dir). */
export function diskInfo(path: string): DiskInfo {
  const s = statfsSync(path);
  const total = s.blocks * s.bsize;
  const avail = s.bavail * s.bsize;
  return {
    path,
    totalBytes: total,
    freeBytes: s.bfree * s.bsize,
    availableBytes: avail,
    usedPercent: total === 0 ? 0 : Math.round(((total - avail) / total) * 1000) / 10,
  };
}

/** Uptimes in seconds. */
export function uptime(): { hostSeconds: number; serviceSeconds: number } {
  return { hostSeconds: Math.round(os.uptime()), serviceSeconds: Math.round(process.uptime()) };
}
