/**
 * Per-space photo settings: keep or strip EXIF in variants, keep or strip GPS in them, and in what signed
 * (shareable) playback URLs serve. The box-wide defaults are `serviceConfig.media` (`exif`, `gps`,
 * `shareLinkGps`); a space's overrides live in `space_settings` and apply to jobs that run after the change.
 */
import { z } from "zod";
import type { Ctx } from "./jobs.js";

const choice = z.enum(["keep", "strip"]);

export const spaceSettingsSchema = z
  .object({ exif: choice.optional(), gps: choice.optional(), shareLinkGps: choice.optional() })
  .strict();
export type SpaceSettings = z.infer<typeof spaceSettingsSchema>;
export type PhotoPolicy = Required<SpaceSettings>;

/** A space id: `user:<id>`, `team:<id>` (files) or `form:<formId>` (forms attachments). */
export const SPACE_ID = /^(user|team|form):[A-Za-z0-9_.-]{1,128}$/;

export function overridesOf(ctx: Ctx, space: string): SpaceSettings {
  const row = ctx.db.prepare("SELECT value FROM space_settings WHERE space = ?").get(space) as
    | { value: string }
    | undefined;
  if (!row) return {};
  const parsed = spaceSettingsSchema.safeParse(JSON.parse(row.value));
  return parsed.success ? parsed.data : {};
}

/** Replaces a space's overrides (an empty object: the box defaults again). */
export function setOverrides(ctx: Ctx, space: string, s: SpaceSettings): void {
  if (Object.keys(s).length === 0) {
    ctx.db.prepare("DELETE FROM space_settings WHERE space = ?").run(space);
    return;
  }
  ctx.db
    .prepare(
      `INSERT INTO space_settings (space, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (space) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    )
    .run(space, JSON.stringify(s), new Date().toISOString());
}

/** What applies to a space's photos: its overrides over the box defaults. */
export function policyOf(ctx: Ctx, space: string): PhotoPolicy {
  const { exif, gps, shareLinkGps } = ctx.config;
  return { exif, gps, shareLinkGps, ...overridesOf(ctx, space) };
}
