/**
 * What the console raises as alerts, from plain status data: pure, so every rule is unit-tested with objects.
 * Sync backlog and certificates come from services that land later (sync, TLS); until then they are absent
 * and their rules stay silent.
 */

export interface Alert {
  /** Stable per condition (`crashloop:identity`, `disk`), so the console can keep the ones it showed. */
  id: string;
  level: "warning" | "critical";
  message: string;
}

export interface AlertInput {
  /** `nextAttemptAt` (ISO): when a service in crash loop is tried next. */
  services: { name: string; state: string; lastError: string | null; nextAttemptAt?: string | null }[];
  nats: string;
  diskUsedPercent: number | null;
  /** Bytes available on the data disk and the reserve uploads stop at (absent: no reserve rule). */
  disk?: { availableBytes: number; reserveBytes: number };
  memoryUsedPercent: number | null;
  /** Pending outbox rows over time, oldest first (the sync issue provides it). */
  syncBacklog?: { at: number; pending: number }[];
  /** TLS certificates the box serves (the TLS issue provides them). */
  certificates?: { name: string; notAfter: string }[];
  now: number;
}

export const DISK_CRITICAL_PERCENT = 90;
const DISK_WARNING_PERCENT = 80;
const MEMORY_WARNING_PERCENT = 90;
const CERT_WARNING_DAYS = 14;
const CERT_CRITICAL_DAYS = 3;
/** The backlog counts as growing when it rose in each of the last samples, over at least this long. */
const BACKLOG_WINDOW_MS = 10 * 60_000;
const DAY_MS = 86_400_000;

/** When a crash-looping service is tried next. In UTC: the box and the reader may be in different zones. */
function nextTry(iso: string | null | undefined): string {
  const t = iso ? new Date(iso) : null;
  if (!t || Number.isNaN(t.getTime()))
    return "it is retried with growing pauses, or restart it to try at once";
  return `next attempt at ${t.toISOString().slice(11, 19)} UTC, or restart it to try at once`;
}

export function alertsFor(input: AlertInput): Alert[] {
  const out: Alert[] = [];
  for (const s of input.services) {
    if (s.state === "crashloop") {
      out.push({
        id: `crashloop:${s.name}`,
        level: "critical",
        message: `${s.name} is in crash loop (${s.lastError ?? "no error recorded"}); ${nextTry(s.nextAttemptAt)}`,
      });
    } else if (s.state === "failed") {
      out.push({ id: `failed:${s.name}`, level: "critical", message: `${s.name} failed to start` });
    }
  }
  if (input.nats !== "running") {
    out.push({ id: "nats", level: "critical", message: `the message bus (nats-server) is ${input.nats}` });
  }
  const disk = input.diskUsedPercent;
  if (disk !== null && disk > DISK_CRITICAL_PERCENT) {
    out.push({ id: "disk", level: "critical", message: `the data disk is ${disk}% full` });
  } else if (disk !== null && disk > DISK_WARNING_PERCENT) {
    out.push({ id: "disk", level: "warning", message: `the data disk is ${disk}% full` });
  }
  const reserve = diskReserveAlert(input.disk);
  if (reserve) out.push(reserve);
  if (input.memoryUsedPercent !== null && input.memoryUsedPercent > MEMORY_WARNING_PERCENT) {
    out.push({ id: "memory", level: "warning", message: `memory is ${input.memoryUsedPercent}% used` });
  }
  const backlog = input.syncBacklog ?? [];
  const recent = backlog.filter((b) => input.now - b.at <= BACKLOG_WINDOW_MS * 2);
  const first = recent[0];
  const last = recent[recent.length - 1];
  if (
    first &&
    last &&
    recent.length >= 3 &&
    last.at - first.at >= BACKLOG_WINDOW_MS &&
    recent.every((b, i) => i === 0 || b.pending > recent[i - 1]!.pending)
  ) {
    out.push({
      id: "sync-backlog",
      level: "warning",
      message: `the sync backlog keeps growing (${first.pending} → ${last.pending} changes waiting)`,
    });
  }
  for (const c of input.certificates ?? []) {
    const days = (Date.parse(c.notAfter) - input.now) / DAY_MS;
    if (!Number.isFinite(days) || days > CERT_WARNING_DAYS) continue;
    out.push({
      id: `certificate:${c.name}`,
      level: days <= CERT_CRITICAL_DAYS ? "critical" : "warning",
      message:
        days <= 0
          ? `certificate ${c.name} has expired`
          : `certificate ${c.name} expires in ${Math.ceil(days)} day(s)`,
    });
  }
  return out;
}

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${Math.max(0, Math.round(bytes / MiB))} MiB`;

/**
 * Uploads are refused once the disk is down to its reserve (kept for logins, settings, logs): critical then,
 * and a warning before, while less than another reserve's worth is left for uploads.
 */
function diskReserveAlert(disk: AlertInput["disk"]): Alert | null {
  if (!disk || disk.reserveBytes <= 0) return null;
  const room = disk.availableBytes - disk.reserveBytes;
  if (room <= 0) {
    return {
      id: "disk-reserve",
      level: "critical",
      message: `the data disk is down to its reserve (${mib(disk.availableBytes)} free): uploads are refused until space is freed`,
    };
  }
  if (room < disk.reserveBytes) {
    return {
      id: "disk-reserve",
      level: "warning",
      message: `the data disk is nearly full: ${mib(room)} left for uploads before they are refused`,
    };
  }
  return null;
}

/** What the backup alert looks at (appliance/backup/jobs.ts's outcomes). */
export interface BackupAlertInput {
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastError: string | null;
}

/** Critical while the last backup failed (until one succeeds): a box with no working backup must be seen. */
export function backupAlert(b: BackupAlertInput): Alert | null {
  if (!b.lastFailureAt) return null;
  if (b.lastSuccessAt && Date.parse(b.lastSuccessAt) >= Date.parse(b.lastFailureAt)) return null;
  const when = `${b.lastFailureAt.slice(0, 10)} ${b.lastFailureAt.slice(11, 16)} UTC`;
  const since = b.lastSuccessAt
    ? `last success ${b.lastSuccessAt.slice(0, 10)}`
    : "no backup has succeeded yet";
  return {
    id: "backup",
    level: "critical",
    message: `the last backup failed (${when}: ${b.lastError ?? "no error recorded"}); ${since}`,
  };
}
