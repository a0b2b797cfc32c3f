/** Box settings (label, location, …): a small key/value table; every change emits `settings.changed`. */
import type { ServiceContext } from "../../appliance/kit/index.js";

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
