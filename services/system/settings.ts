/** Box settings (label, location, …): a small key/value table; every change emits `settings.changed`. */
import { z } from "zod";
import type { ServiceContext } from "../../appliance/kit/index.js";
import type { ChangeRecord } from "../../appliance/sync/change.js";

/** What a setting key may be (the route and the hub's records take the same). */
export const SETTING_KEY = /^[a-z][a-z0-9_.-]{0,63}$/;
/** A setting's value. */
export const settingValue = z.string().max(4096);
const hubSetting = z.object({ value: settingValue });

export interface Setting {
  key: string;
  value: string;
  updatedAt: string;
}

/** All settings, by key. */
export function listSettings(ctx: ServiceContext): Setting[] {
  return ctx.db
    .prepare("SELECT key, value, updated_at AS updatedAt FROM settings ORDER BY key")
    .all() as Setting[];
}

/** One setting, or undefined. */
export function getSetting(ctx: ServiceContext, key: string): Setting | undefined {
  return ctx.db.prepare("SELECT key, value, updated_at AS updatedAt FROM settings WHERE key = ?").get(key) as
    | Setting
    | undefined;
}

/** Writes a setting and its event in one transaction. */
export function putSetting(ctx: ServiceContext, key: string, value: string): Setting {
  const updatedAt = new Date().toISOString();
  return ctx.tx(() => {
    ctx.db
      .prepare(
        "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
      )
      .run(key, value, updatedAt);
    ctx.emit("settings.changed", { key, value });
    return { key, value, updatedAt };
  });
}

/** Deletes a setting; returns whether it existed. */
export function deleteSetting(ctx: ServiceContext, key: string): boolean {
  return ctx.tx(() => {
    const { changes } = ctx.db.prepare("DELETE FROM settings WHERE key = ?").run(key);
    if (changes > 0) ctx.emit("settings.deleted", { key });
    return changes > 0;
  });
}

/** Records this start; the boot counter tells an admin how often the service restarted. */
export function recordBoot(ctx: ServiceContext): number {
  return ctx.tx(() => {
    ctx.db
      .prepare("INSERT INTO boots (started_at, pid) VALUES (?, ?)")
      .run(new Date().toISOString(), process.pid);
    const { n } = ctx.db.prepare("SELECT count(*) AS n FROM boots").get() as { n: number };
    ctx.emit("booted", { boots: n, pid: process.pid });
    return n;
  });
}

/**
 * `syncApply` for `settings`: the hub's `{ value }` for a key (or its deletion), applied only when its HLC is
 * later than the last one applied for that key. A record with a bad key or value is skipped with a warning
 * (not thrown: that would retry it forever). Records nothing for the hub (no echo).
 */
export function applyHubSetting(ctx: ServiceContext, r: ChangeRecord): void {
  const where = { key: r.key, hlc: r.hlc };
  const mine = ctx.db.prepare("SELECT hlc FROM setting_hub_versions WHERE key = ?").get(r.key) as
    | { hlc: string }
    | undefined;
  if (mine && mine.hlc >= r.hlc) {
    ctx.log.debug({ ...where, applied: mine.hlc }, "older hub setting");
    return;
  }
  const data = r.op === "upsert" ? hubSetting.safeParse(r.data) : null;
  const problem = !SETTING_KEY.test(r.key)
    ? "malformed key"
    : data?.success === false
      ? data.error.message
      : null;
  if (problem) {
    ctx.log.warn({ ...where, problem }, "hub setting skipped");
    return;
  }
  ctx.db
    .prepare(
      "INSERT INTO setting_hub_versions (key, hlc) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET hlc = excluded.hlc",
    )
    .run(r.key, r.hlc);
  if (data?.success) putSetting(ctx, r.key, data.data.value);
  else deleteSetting(ctx, r.key);
  ctx.log.info({ ...where, op: r.op }, "hub setting applied");
}
