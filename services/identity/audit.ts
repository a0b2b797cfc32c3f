/**
 * The security audit log: append-only (triggers refuse UPDATE and DELETE), each entry also emitted as
 * `nexus.identity.audit.<action>` through the outbox in the same transaction, so the sync can ship it.
 * Entries never hold secrets: callers pass identifiers, not passwords or tokens.
 */
import type { Caller, ServiceContext } from "../../appliance/kit/index.js";
import type { IdentityConfig } from "./config.js";

type Ctx = ServiceContext<IdentityConfig>;

export interface AuditEntry {
  seq: number;
  at: string;
  actor: string | null;
  ip: string | null;
  action: string;
  target: string | null;
  outcome: "success" | "failure";
  details: Record<string, unknown>;
}

/** Records one security event. Call inside the transaction of the change it describes. */
export function audit(
  ctx: Ctx,
  e: {
    actor: string | null;
    ip?: string | null;
    action: string;
    target?: string | null;
    outcome?: "success" | "failure";
    details?: Record<string, unknown>;
  },
): void {
  const write = () => {
    const at = new Date().toISOString();
    const outcome = e.outcome ?? "success";
    ctx.db
      .prepare(
        "INSERT INTO audit (at, actor, ip, action, target, outcome, details) VALUES (?, ?, ?, ?, ?, ?, ?)",
      )
      .run(at, e.actor, e.ip ?? null, e.action, e.target ?? null, outcome, JSON.stringify(e.details ?? {}));
    ctx.emit(`audit.${e.action}`, {
      at,
      actor: e.actor,
      ip: e.ip ?? null,
      target: e.target ?? null,
      outcome,
      details: e.details ?? {},
    });
  };
  ctx.db.inTransaction ? write() : ctx.tx(write);
}

/** `audit` for an HTTP caller: the actor is the caller's name, `ip` the one the gateway saw (`clientIp`). */
export function auditCaller(
  ctx: Ctx,
  caller: Caller,
  ip: string,
  e: {
    action: string;
    target?: string | null;
    outcome?: "success" | "failure";
    details?: Record<string, unknown>;
  },
): void {
  audit(ctx, { actor: caller.username ?? caller.id, ip, ...e });
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  outcome?: "success" | "failure";
  target?: string;
  since?: string;
  until?: string;
  /** Entries with seq below this (paging backwards). */
  before?: number;
  limit: number;
}

/** Newest first, filtered; every value is bound as a parameter. */
export function queryAudit(ctx: Ctx, q: AuditQuery): AuditEntry[] {
  const where: string[] = [];
  const args: unknown[] = [];
  const eq = (col: string, v: unknown) => {
    where.push(`${col} = ?`);
    args.push(v);
  };
  if (q.actor) eq("actor", q.actor);
  if (q.action) eq("action", q.action);
  if (q.outcome) eq("outcome", q.outcome);
  if (q.target) eq("target", q.target);
  // `at` is compared as text, so bounds take its exact form: `…:36Z` sorted after `…:36.575Z` and a
  // bound without milliseconds dropped (since) or kept (until) up to a second of entries.
  if (q.since) {
    where.push("at >= ?");
    args.push(new Date(q.since).toISOString());
  }
  if (q.until) {
    where.push("at < ?");
    args.push(new Date(q.until).toISOString());
  }
  if (q.before) {
    where.push("seq < ?");
    args.push(q.before);
  }
  const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`;
  const rows = ctx.db.prepare(sql).all(...args, q.limit) as (Omit<AuditEntry, "details"> & {
    details: string;
  })[];
  return rows.map((r) => ({ ...r, details: JSON.parse(r.details) }));
}
