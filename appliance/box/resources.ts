/** Box resources for the console and status: CPU use between two samples, memory, disk of the data dir. */
import { readFileSync, statfsSync } from "node:fs";
import os from "node:os";
import { type DiskReserve, reserveOf } from "../kit/disk.js";

export interface DiskInfo {
  path: string;
  totalBytes: number;
  freeBytes: number;
  availableBytes: number;
  usedPercent: number;
  /** Held back for the box itself: uploads are refused once only this much is available (kit/disk.ts). */
  reserveBytes: number;
}

/** Space on the file system holding `path` (the data dir); used % counts what non-root users cannot use. */
export function diskInfo(path: string, reserve?: DiskReserve): DiskInfo {
  const s = statfsSync(path);
  const total = s.blocks * s.bsize;
  const avail = s.bavail * s.bsize;
  return {
    path,
    totalBytes: total,
    freeBytes: s.bfree * s.bsize,
    availableBytes: avail,
    usedPercent: total === 0 ? 0 : Math.round(((total - avail) / total) * 1000) / 10,
    reserveBytes: reserve ? reserveOf(total, reserve) : 0,
  };
}

export interface MemoryInfo {
  totalBytes: number;
  usedBytes: number;
  usedPercent: number;
}

/** Memory in use: total minus what the kernel calls available (MemAvailable), so caches do not count. */
export function memoryInfo(meminfo = readMeminfo()): MemoryInfo {
  const total = os.totalmem();
  const available = meminfo ?? os.freemem();
  const used = Math.max(0, total - available);
  return { totalBytes: total, usedBytes: used, usedPercent: Math.round((used / total) * 1000) / 10 };
}

function readMeminfo(): number | null {
  try {
    // Linux only; elsewhere os.freemem() is the best there is.
    const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync("/proc/meminfo", "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

interface CpuTimes {
  busy: number;
  total: number;
}

function cpuTimes(): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy, total };
}

/**
 * CPU use of the whole box in % (all cores together), measured between successive calls; the first call
 * measures over a short pause. Calls closer than `minGapMs` return the last figure, so many readers (one SSE
 * stream per open console) share one measurement.
 */
export function cpuSampler(minGapMs = 500): () => Promise<number> {
  let last = cpuTimes();
  let lastAt = 0;
  let value: number | null = null;
  return async () => {
    if (value !== null && Date.now() - lastAt < minGapMs) return value;
    if (value === null) await new Promise((r) => setTimeout(r, 100));
    const now = cpuTimes();
    const total = now.total - last.total;
    value = total > 0 ? Math.round(((now.busy - last.busy) / total) * 1000) / 10 : 0;
    last = now;
    lastAt = Date.now();
    return value;
  };
}
