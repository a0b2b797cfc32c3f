/** The box as the console's overview shows it: services, message bus, resources, alerts. No HTTP here. */

import os from "node:os";
import type { DiskReserve } from "../kit/disk.js";
import type { ServiceStatus } from "../supervisor/status.js";
import { readOutcome, type UpgradeOutcome } from "../upgrade/marker.js";
import { type Alert, alertsFor } from "./alerts.js";
import type { GpuInfo } from "./gpu.js";
import { type DiskInfo, diskInfo, type MemoryInfo, memoryInfo } from "./resources.js";

export interface StatusSources {
  version: string;
  site: string;
  dataDir: string;
  /** The box's disk reserve, for the alert before uploads are refused. */
  diskReserve?: DiskReserve;
  services: () => ServiceStatus[];
  nats: () => { state: string };
  cpuPercent: () => Promise<number>;
  gpus: () => Promise<GpuInfo[] | null>;
  now?: () => number;
}

export interface ApplianceStatus {
  version: string;
  site: string;
  time: string;
  uptimeSeconds: number;
  nats: { state: string };
  services: Omit<ServiceStatus, "port">[];
  box: {
    cpuPercent: number;
    cpus: number;
    loadAverage: number[];
    memory: MemoryInfo;
    disk: DiskInfo | null;
    gpus: GpuInfo[] | null;
  };
  alerts: Alert[];
  /** The last upgrade on this data dir (a rollback's reason included); null when none ran. */
  lastUpgrade: UpgradeOutcome | null;
}

/** One reading of everything the overview shows. */
export async function applianceStatus(src: StatusSources): Promise<ApplianceStatus> {
  const now = src.now?.() ?? Date.now();
  const [cpuPercent, gpus] = await Promise.all([src.cpuPercent(), src.gpus()]);
  let disk: DiskInfo | null = null;
  try {
    disk = diskInfo(src.dataDir, src.diskReserve);
  } catch {
    disk = null; // data dir gone (being removed): report no disk rather than fail the whole status
  }
  const memory = memoryInfo();
  const services = src.services().map(({ port: _port, ...rest }) => rest);
  const nats = { state: src.nats().state };
  return {
    version: src.version,
    site: src.site,
    time: new Date(now).toISOString(),
    uptimeSeconds: Math.round(process.uptime()),
    nats,
    services,
    box: { cpuPercent, cpus: os.cpus().length, loadAverage: os.loadavg(), memory, disk, gpus },
    alerts: alertsFor({
      services,
      nats: nats.state,
      diskUsedPercent: disk?.usedPercent ?? null,
      disk: disk ? { availableBytes: disk.availableBytes, reserveBytes: disk.reserveBytes } : undefined,
      memoryUsedPercent: memory.usedPercent,
      now,
    }),
    lastUpgrade: readOutcome(src.dataDir),
  };
}
