/**
 * A tiny 5-field cron (`minute hour day-of-month month day-of-week`, local time) for the backup schedule:
 * `*`, numbers, ranges `a-b`, steps `*\/n` and `a-b/n`, lists `a,b`; day-of-week 0–7 (0 and 7 are Sunday).
 * As in Vixie cron, when both day fields are restricted a day matches either of them. `nextRun` is pure:
 * the caller passes "now", so tests (and the scheduler) never depend on the wall clock.
 */

export interface CronSchedule {
  source: string;
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** Whether the day-of-month / day-of-week field was `*`. */
  anyDay: boolean;
  anyWeekday: boolean;
}

const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 7 },
] as const;

/** The default: every day at 02:30 local time. */
export const DEFAULT_SCHEDULE = "30 2 * * *";

/** Parses one field into the set of values it allows; throws a readable error. */
function parseField(text: string, field: (typeof FIELDS)[number]): Set<number> {
  const out = new Set<number>();
  for (const item of text.split(",")) {
    const m = /^(\*|(\d{1,2})(?:-(\d{1,2}))?)(?:\/(\d{1,2}))?$/.exec(item);
    if (!m) throw new Error(`cron ${field.name}: "${item}" is not a number, range, list or step`);
    const from = m[1] === "*" ? field.min : Number(m[2]);
    const to = m[1] === "*" ? field.max : m[3] !== undefined ? Number(m[3]) : m[4] ? field.max : from;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (from < field.min || to > field.max || from > to || step < 1) {
      throw new Error(`cron ${field.name}: "${item}" is outside ${field.min}-${field.max}`);
    }
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

/** Parses a 5-field cron expression; throws an Error naming the bad field. */
export function parseCron(source: string): CronSchedule {
  const parts = source.trim().split(/\s+/);
  if (parts.length !== 5)
    throw new Error(`cron: 5 fields expected (minute hour day month weekday), got "${source}"`);
  const [mi, h, d, mo, w] = parts.map((p, i) => parseField(p, FIELDS[i]!));
  const weekdays = new Set([...w!].map((v) => v % 7));
  return {
    source,
    minutes: mi!,
    hours: h!,
    days: d!,
    months: mo!,
    weekdays,
    anyDay: parts[2] === "*",
    anyWeekday: parts[4] === "*",
  };
}

/** Whether `cron` is a valid expression (for config validation). */
export function isCron(source: string): boolean {
  try {
    parseCron(source);
    return true;
  } catch {
    return false;
  }
}

function dayMatches(c: CronSchedule, t: Date): boolean {
  if (!c.months.has(t.getMonth() + 1)) return false;
  const dom = c.days.has(t.getDate());
  const dow = c.weekdays.has(t.getDay());
  if (c.anyDay && c.anyWeekday) return true;
  if (c.anyDay) return dow;
  if (c.anyWeekday) return dom;
  return dom || dow;
}

/** The first minute strictly after `after` that `cron` matches (local time), or null within 5 years (e.g. 31 Feb). */
export function nextRun(cron: CronSchedule, after: Date): Date | null {
  const t = new Date(after.getTime());
  t.setSeconds(0, 0);
  t.setMinutes(t.getMinutes() + 1);
  const limit = after.getTime() + 5 * 366 * 86_400_000;
  while (t.getTime() <= limit) {
    if (!dayMatches(cron, t)) {
      t.setHours(0, 0, 0, 0);
      t.setDate(t.getDate() + 1);
      continue;
    }
    if (!cron.hours.has(t.getHours())) {
      t.setHours(t.getHours() + 1, 0, 0, 0);
      continue;
    }
    if (!cron.minutes.has(t.getMinutes())) {
      t.setMinutes(t.getMinutes() + 1, 0, 0);
      continue;
    }
    return t;
  }
  return null;
}
