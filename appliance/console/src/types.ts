/** Shapes of what the console reads from the API (only the fields it uses). */
import type { GpuInfo as Gpu } from "../../box/gpu";
import type { SyncStatus } from "../../sync-status";
import type { UpgradeOutcome } from "../../upgrade/marker";

export interface Me {
  id: string;
  username: string;
  displayName: string;
  roles: string[];
  permissions: string[];
  mfaEnabled: boolean;
  mustChangePassword: boolean;
}

export interface ServiceRow {
  name: string;
  unit: string;
  state: string;
  pid: number | null;
  restarts: number;
  uptimeSeconds: number | null;
  memoryBytes: number | null;
  lastError: string | null;
  /** When a service in crash loop or backoff is tried next (ISO time). */
  nextAttemptAt: string | null;
}

/** One GPU as the box reads it (`nvidia-smi`; the gateway's own type, type-only). */
export type { GpuInfo as Gpu } from "../../box/gpu";

export interface Status {
  version: string;
  site: string;
  time: string;
  uptimeSeconds: number;
  nats: { state: string };
  services: ServiceRow[];
  box: {
    cpuPercent: number;
    cpus: number;
    loadAverage: number[];
    memory: { totalBytes: number; usedBytes: number; usedPercent: number };
    disk: { path: string; totalBytes: number; availableBytes: number; usedPercent: number } | null;
    gpus: Gpu[] | null;
  };
  alerts: { id: string; level: "warning" | "critical"; message: string }[];
  sync: SyncStatus;
  lastUpgrade: UpgradeOutcome | null;
}

/** What the files API answers for a file or folder (the server's own type; type-only, nothing bundled). */
export type { FileNode } from "../../../services/files/nodes";

/** What the identity API shows of users, sessions, API keys and audit entries (the server's own types;
 * type-only, nothing bundled). */
export type { ApiKey } from "../../../services/identity/api-keys";
export type { AuditEntry } from "../../../services/identity/audit";
export type { SessionInfo as Session } from "../../../services/identity/sessions";
export type { User } from "../../../services/identity/users";
/** `GET /api/appliance/sync`, and `sync` in the status: the gateway's own type (a type only, not bundled). */
export type { SyncStatus } from "../../sync-status";
