/**
 * `nexus sync status`: is the box enrolled, is its link to the hub up, how many changes wait for the hub's
 * acknowledgement, when did the last one come, and how old is the oldest change still waiting. Read from the
 * data dir (service databases read-only, nats-server's loopback monitoring port), so it works whether or not
 * the supervisor answers.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { loopbackRequest } from "./lib/loopback-http.js";
import { dataPaths } from "./paths.js";
import { readHubLink } from "./sync/hub-link.js";
import { type SyncBacklog, syncBacklog } from "./sync/state.js";

export interface SyncStatus {
  enrolled: boolean;
  site: string | null;
  hubUrl: string | null;
  /** "unknown": enrolled, but the box's nats-server is not running. */
  link: "up" | "down" | "unknown" | "not-enrolled";
  /**
   * How the link is protected: TLS to a hub whose CA the box pinned at enrolment, TLS verified against the
   * system's trust store, or plain (a link made before the hub had TLS, or a hub with it off); null when not
   * enrolled.
   */
  linkTls: "pinned-ca" | "system-ca" | "none" | null;
  /** Changes waiting for the hub's acknowledgement, all services together. */
  backlog: number;
  /** Age of the oldest change still waiting, in seconds (0 when none). */
  lagSeconds: number;
  lastAckAt: string | null;
  services: ({ service: string } & SyncBacklog)[];
}

/** Whether the box's nats-server has a leafnode connection (null: nats-server not reachable). */
async function linkUp(monitorFile: string): Promise<boolean | null> {
  if (!existsSync(monitorFile)) return null;
  const port = Number(readFileSync(monitorFile, "utf8"));
  try {
    const res = await loopbackRequest(port, "/leafz", { timeoutMs: 2000, maxBytes: 16 << 20 });
    const body = JSON.parse(res.body) as { leafs?: unknown[] };
    return (body.leafs?.length ?? 0) > 0;
  } catch {
    return null;
  }
}

function serviceBacklogs(servicesDir: string): SyncStatus["services"] {
  if (!existsSync(servicesDir)) return [];
  const out: SyncStatus["services"] = [];
  for (const name of readdirSync(servicesDir).sort()) {
    const file = join(servicesDir, name, `${name}.db`);
    if (!existsSync(file)) continue;
    const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 2000 });
    try {
      const hasState = db.prepare("SELECT 1 FROM sqlite_master WHERE name = '_sync_state'").get();
      if (hasState) out.push({ service: name, ...syncBacklog(db) });
    } finally {
      db.close();
    }
  }
  return out;
}

export async function syncStatus(dataDir: string, now = Date.now()): Promise<SyncStatus> {
  const paths = dataPaths(dataDir);
  const link = readHubLink(paths.root);
  const services = serviceBacklogs(paths.services);
  const oldest = services
    .map((s) => s.oldestPendingAt)
    .filter((t): t is string => t !== null)
    .sort()[0];
  const lastAck = services
    .map((s) => s.ackedAt)
    .filter((t): t is string => t !== null)
    .sort()
    .at(-1);
  const up = link ? await linkUp(paths.natsMonitor) : null;
  return {
    enrolled: link !== null,
    site: link?.site ?? null,
    hubUrl: link?.hubUrl ?? null,
    link: !link ? "not-enrolled" : up === null ? "unknown" : up ? "up" : "down",
    linkTls: !link ? null : !link.leafnodeTls ? "none" : link.leafnodeCa ? "pinned-ca" : "system-ca",
    backlog: services.reduce((n, s) => n + s.pending, 0),
    lagSeconds: oldest ? Math.max(0, Math.round((now - Date.parse(oldest)) / 1000)) : 0,
    lastAckAt: lastAck ?? null,
    services,
  };
}
