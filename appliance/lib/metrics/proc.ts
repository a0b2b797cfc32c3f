/**
 * Another process's CPU time, resident memory and open descriptors, read from /proc: for children that are
 * not Node (nats-server), which cannot report themselves. Costs them nothing. Linux only; elsewhere, nothing.
 */
import { readdirSync, readFileSync } from "node:fs";
import { type MetricFamily, single } from "./family.js";

/** USER_HZ: the unit of /proc/<pid>/stat's CPU times; 100 on every Linux architecture the box runs on. */
const TICKS_PER_SECOND = 100;

export interface ProcStats {
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  residentBytes: number;
  /** null where there is no /proc: the series is left out. */
  openFds: number | null;
}

/** `pid`'s numbers, or null when it is gone or there is no /proc. */
export function procStats(pid: number): ProcStats | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return {
      cpuUserSeconds: Number(fields[11]) / TICKS_PER_SECOND,
      cpuSystemSeconds: Number(fields[12]) / TICKS_PER_SECOND,
      residentBytes: rss ? Number(rss[1]) * 1024 : 0,
      openFds: readdirSync(`/proc/${pid}/fd`).length,
    };
  } catch {
    return null;
  }
}

/** CPU, memory and descriptor families: the same names and help for a process measured inside or from /proc. */
export function osFamilies(s: ProcStats): MetricFamily[] {
  const cpu = s.cpuUserSeconds + s.cpuSystemSeconds;
  return [
    single("counter", "process_cpu_user_seconds_total", "User CPU time, in seconds.", s.cpuUserSeconds),
    single("counter", "process_cpu_system_seconds_total", "System CPU time, in seconds.", s.cpuSystemSeconds),
    single("counter", "process_cpu_seconds_total", "User and system CPU time, in seconds.", cpu),
    single("gauge", "process_resident_memory_bytes", "Resident memory size, in bytes.", s.residentBytes),
    ...(s.openFds === null ? [] : [single("gauge", "process_open_fds", "Open file descriptors.", s.openFds)]),
  ];
}

/** `pid`'s process families, read from /proc; none when it is gone. */
export function procFamilies(pid: number): MetricFamily[] {
  const s = procStats(pid);
  return s ? osFamilies(s) : [];
}
