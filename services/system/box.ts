/** Facts about the box: plain functions, no HTTP. */
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

/** Space on the file system holding the data dir: one implementation, shared with the console's status. */
export { type DiskInfo, diskInfo } from "../../appliance/box/resources.js";

/** Uptimes in seconds. */
export function uptime(): { hostSeconds: number; serviceSeconds: number } {
  return { hostSeconds: Math.round(os.uptime()), serviceSeconds: Math.round(process.uptime()) };
}
